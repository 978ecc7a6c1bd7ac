/*
 * ctl_output.c: how depotctl prints: aligned tables, JSON (jansson), and
 * the place an object is defined, relative to the configuration's folder.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "lib/xmalloc.h"

#define CTL_TABLE_GAP	2

/* "depot.conf:12", or the absolute path when outside. Caller frees. */
char *
ctl_where(struct ctl *ctl, const char *file, int line)
{
	const char	*shown = file != NULL ? file : "?";
	char		*where;
	size_t		 len;

	len = ctl->ctl_confdir != NULL ? strlen(ctl->ctl_confdir) : 0;
	if (len > 1 && strncmp(shown, ctl->ctl_confdir, len) == 0 &&
	    shown[len] == '/')
		shown += len + 1;
	if (line > 0)
		xasprintf(&where, "%s:%d", shown, line);
	else
		where = xstrdup(shown);
	return (where);
}

/* items joined by sep; "" when there are none. Caller frees. */
char *
ctl_join(char *const *items, size_t count, const char *sep)
{
	char	*out, *next;
	size_t	 i;

	out = xstrdup("");
	for (i = 0; i < count; i++) {
		xasprintf(&next, "%s%s%s", out, i > 0 ? sep : "", items[i]);
		free(out);
		out = next;
	}
	return (out);
}

/* Append a row of ncols cells (copied) to a table. */
void
ctl_table_row(char ***cells, size_t *nrows, size_t ncols, ...)
{
	va_list		 ap;
	const char	*s;
	size_t		 i;

	*cells = xreallocarray(*cells, (*nrows + 1) * ncols, sizeof(**cells));
	va_start(ap, ncols);
	for (i = 0; i < ncols; i++) {
		s = va_arg(ap, const char *);
		(*cells)[*nrows * ncols + i] = xstrdup(s != NULL && *s != '\0' ?
		    s : "-");
	}
	va_end(ap);
	(*nrows)++;
}

/* Print a table with its columns aligned, then free it. */
void
ctl_table_print(char **cells, size_t nrows, size_t ncols)
{
	size_t	*width, r, c, len;

	width = xcalloc(ncols, sizeof(*width));
	for (r = 0; r < nrows; r++)
		for (c = 0; c < ncols; c++) {
			len = strlen(cells[r * ncols + c]);
			if (len > width[c])
				width[c] = len;
		}
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			if (c + 1 < ncols)
				printf("%-*s", (int)(width[c] + CTL_TABLE_GAP),
				    cells[r * ncols + c]);
			else
				printf("%s\n", cells[r * ncols + c]);
			free(cells[r * ncols + c]);
		}
	}
	free(cells);
	free(width);
}

/* Print a JSON value on standard output and release it. */
int
ctl_json_print(json_t *value)
{
	char	*text;

	text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(value);
	if (text == NULL)
		return (ctl_refuse("cannot format JSON"));
	printf("%s\n", text);
	free(text);
	return (CTL_OK);
}

/* A string as JSON: null for NULL; bytes that are not UTF-8 become '?'. */
json_t *
ctl_json_text(const char *s)
{
	json_t	*value;
	char	*copy, *p;

	if (s == NULL)
		return (json_null());
	if ((value = json_string(s)) != NULL)
		return (value);
	copy = xstrdup(s);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	value = json_string(copy);
	free(copy);
	return (value);
}

json_t *
ctl_json_strlist(const struct strlist *sl)
{
	json_t	*array;
	size_t	 i;

	array = json_array();
	for (i = 0; i < sl->sl_count; i++)
		json_array_append_new(array, ctl_json_text(sl->sl_items[i]));
	return (array);
}

void
ctl_list_add(struct strlist *sl, const char *s)
{
	sl->sl_items = xreallocarray(sl->sl_items, sl->sl_count + 1,
	    sizeof(*sl->sl_items));
	sl->sl_items[sl->sl_count++] = xstrdup(s);
}

void
ctl_list_clear(struct strlist *sl)
{
	size_t	 i;

	for (i = 0; i < sl->sl_count; i++)
		free(sl->sl_items[i]);
	free(sl->sl_items);
	sl->sl_items = NULL;
	sl->sl_count = 0;
}
