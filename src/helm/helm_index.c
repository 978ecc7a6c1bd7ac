/*
 * helm_index.c: member files (the compact form of a Helm index), the
 * streaming parse of an upstream index.yaml into one, the rendering of a
 * registry's merged index.yaml from its members, a page of that merge
 * for the JSON API (helm_member_page), and RFC 3986 reference
 * resolution for chart URLs.
 *
 * Member file: "DHM1", int64 generation, then records, each a uint32
 * byte count and five strings (uint32 count, bytes): name, version,
 * digest, url, yaml. Records are sorted by name (bytes), then version,
 * newest first (helm_semver_cmp). All integers big-endian.
 *
 * Memory: the parse holds one entry's events and YAML at a time and, to
 * sort, the name and version of every entry (tens of bytes each); the
 * records go through a temporary file. The render holds one chart name's
 * versions at a time. Neither ever builds a tree of the index.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <yaml.h>

#include "lib/digest.h"
#include "helm/helm_chart.h"
#include "helm/helm_index.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define HELM_MEMBER_MAGIC	"DHM1"
#define HELM_RECORD_MAX		(16 * 1024 * 1024)
#define HELM_ENTRY_DEPTH_MAX	64
#define HELM_SCALAR_MAX		(1024 * 1024)

/* The shape a known index entry field must have. */
enum helm_shape {
	SHAPE_ANY,
	SHAPE_SCALAR,		/* a string, a number or a bool */
	SHAPE_SCALARS,		/* a list of scalars */
	SHAPE_MAPS,		/* a list of mappings */
	SHAPE_FLAT_MAPS		/* a list of mappings of scalars */
};
#define HELM_RENDER_NAME	"current"

struct helm_buf {
	char	*b_data;
	size_t	 b_len;
	size_t	 b_size;
};

/* A member file being read record by record. */
struct helm_reader {
	FILE			*rd_f;
	struct helm_record	 rd_rec;
	int			 rd_have;	/* rd_rec holds the next */
};

/* An entry's place in the parse's temporary file, for the sort. */
struct helm_slot {
	char	*sl_name;
	char	*sl_version;
	off_t	 sl_off;
	uint32_t sl_len;
};

/* The streaming parse of one upstream index. */
struct helm_parse {
	yaml_parser_t	 pa_parser;
	const char	*pa_url;
	FILE		*pa_tmp;
	off_t		 pa_off;
	struct helm_slot *pa_slots;
	size_t		 pa_nslots;
	size_t		 pa_skipped;
	char		*pa_cause;
};

static void	buf_add(struct helm_buf *, const void *, size_t);
static void	buf_str(struct helm_buf *, const char *, size_t);
static void	buf_u32(struct helm_buf *, uint32_t);
static int	buf_write_cb(void *, unsigned char *, size_t);
static uint32_t	dec_u32(const unsigned char *);
static int	record_encode(const struct helm_record *, struct helm_buf *);
static int	record_decode(const unsigned char *, size_t,
		    struct helm_record *);
static int	reader_open(struct helm_reader *, const char *, int64_t *);
static int	reader_next(struct helm_reader *);
static void	reader_close(struct helm_reader *);
static int	record_cmp(const void *, const void *);
static int	slot_cmp(const void *, const void *);
static int	parse_next(struct helm_parse *, yaml_event_t *);
static int	parse_skip(struct helm_parse *, yaml_event_t *);
static int	parse_entries(struct helm_parse *);
static int	parse_versions(struct helm_parse *, const char *);
static int	parse_entry(struct helm_parse *, const char *);
static enum helm_shape field_shape(const char *);
static int	tag_ok(const yaml_char_t *);
static int	parse_copy(struct helm_parse *, yaml_emitter_t *,
		    yaml_event_t *, char **, enum helm_shape, int *);
static int	render_write(int, struct helm_reader *, size_t,
		    struct digester *, char **);
static int	render_gzip(const char *, const char *, char **);
static void	render_prune(const char *, const char *, const char *);
static int	write_out(int, struct digester *, const void *, size_t);
static int	record_write(int, const struct helm_record *);

void
helm_record_clear(struct helm_record *r)
{
	free(r->hr_name);
	free(r->hr_version);
	free(r->hr_digest);
	free(r->hr_url);
	free(r->hr_yaml);
	memset(r, 0, sizeof(*r));
}

static void
buf_add(struct helm_buf *b, const void *p, size_t n)
{
	if (b->b_len + n + 1 > b->b_size) {
		b->b_size = (b->b_len + n + 1) * 2;
		b->b_data = xreallocarray(b->b_data, 1, b->b_size);
	}
	memcpy(b->b_data + b->b_len, p, n);
	b->b_len += n;
	b->b_data[b->b_len] = '\0';
}

static void
buf_u32(struct helm_buf *b, uint32_t v)
{
	unsigned char	 p[4];

	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	buf_add(b, p, 4);
}

static void
buf_str(struct helm_buf *b, const char *s, size_t n)
{
	buf_u32(b, (uint32_t)n);
	buf_add(b, s, n);
}

static int
buf_write_cb(void *arg, unsigned char *data, size_t size)
{
	buf_add(arg, data, size);
	return (1);
}

static uint32_t
dec_u32(const unsigned char *p)
{
	return (((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3]);
}

/* A record with its leading byte count. -1 when too large. */
static int
record_encode(const struct helm_record *r, struct helm_buf *b)
{
	size_t	 start = b->b_len;
	uint32_t len;

	buf_u32(b, 0);
	buf_str(b, r->hr_name, strlen(r->hr_name));
	buf_str(b, r->hr_version, strlen(r->hr_version));
	buf_str(b, r->hr_digest, strlen(r->hr_digest));
	buf_str(b, r->hr_url, strlen(r->hr_url));
	buf_str(b, r->hr_yaml, r->hr_yaml_len);
	len = (uint32_t)(b->b_len - start - 4);
	if (b->b_len - start - 4 > HELM_RECORD_MAX)
		return (-1);
	b->b_data[start] = (char)(len >> 24);
	b->b_data[start + 1] = (char)(len >> 16);
	b->b_data[start + 2] = (char)(len >> 8);
	b->b_data[start + 3] = (char)len;
	return (0);
}

static int
record_decode(const unsigned char *p, size_t len, struct helm_record *r)
{
	char	**fields[5];
	size_t	 i, n;

	fields[0] = &r->hr_name;
	fields[1] = &r->hr_version;
	fields[2] = &r->hr_digest;
	fields[3] = &r->hr_url;
	fields[4] = &r->hr_yaml;
	memset(r, 0, sizeof(*r));
	for (i = 0; i < 5; i++) {
		if (len < 4 || (n = dec_u32(p)) > len - 4) {
			helm_record_clear(r);
			return (-1);
		}
		*fields[i] = xstrndup((const char *)p + 4, n);
		if (i == 4)
			r->hr_yaml_len = strlen(r->hr_yaml);
		p += 4 + n;
		len -= 4 + n;
	}
	return (len == 0 ? 0 : -1);
}

/* Open a member file; a missing one reads as empty. 0 or -1. */
static int
reader_open(struct helm_reader *rd, const char *path, int64_t *gen)
{
	unsigned char	 head[12];
	int64_t		 g = 0;
	int		 i;

	memset(rd, 0, sizeof(*rd));
	if ((rd->rd_f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT && gen == NULL)
			return (0);
		return (-1);
	}
	if (fread(head, 1, sizeof(head), rd->rd_f) != sizeof(head) ||
	    memcmp(head, HELM_MEMBER_MAGIC, 4) != 0) {
		log_warnx("%s: %s: not a member file", __func__, path);
		fclose(rd->rd_f);
		rd->rd_f = NULL;
		errno = EINVAL;
		return (-1);
	}
	for (i = 4; i < 12; i++)
		g = (int64_t)(((uint64_t)g << 8) | head[i]);
	if (gen != NULL)
		*gen = g;
	return (0);
}

/* The next record into rd_rec: 1, 0 at the end, -1 on a damaged file. */
static int
reader_next(struct helm_reader *rd)
{
	unsigned char	 lenb[4], *p;
	uint32_t	 len;
	size_t		 got;

	helm_record_clear(&rd->rd_rec);
	rd->rd_have = 0;
	if (rd->rd_f == NULL)
		return (0);
	if ((got = fread(lenb, 1, 4, rd->rd_f)) == 0)
		return (0);
	if (got != 4 || (len = dec_u32(lenb)) > HELM_RECORD_MAX)
		goto bad;
	p = xmalloc(len ? len : 1);
	if (fread(p, 1, len, rd->rd_f) != len ||
	    record_decode(p, len, &rd->rd_rec) == -1) {
		free(p);
		goto bad;
	}
	free(p);
	rd->rd_have = 1;
	return (1);
bad:
	log_warnx("%s: damaged member file", __func__);
	return (-1);
}

static void
reader_close(struct helm_reader *rd)
{
	helm_record_clear(&rd->rd_rec);
	if (rd->rd_f != NULL)
		fclose(rd->rd_f);
	rd->rd_f = NULL;
}

static int
record_cmp(const void *a, const void *b)
{
	const struct helm_record	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->hr_name, y->hr_name)) != 0)
		return (c);
	return (helm_semver_cmp(y->hr_version, x->hr_version));
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct helm_slot	*x = a, *y = b;
	int			 c;

	if ((c = strcmp(x->sl_name, y->sl_name)) != 0)
		return (c);
	if ((c = helm_semver_cmp(y->sl_version, x->sl_version)) != 0)
		return (c);
	return (x->sl_off < y->sl_off ? -1 : x->sl_off > y->sl_off);
}

/* Create path's temp file beside it; its name in tmp. fd or -1. */
static int
temp_beside(const char *path, char *tmp, size_t len)
{
	int	 fd;

	if (path_fmt(tmp, len, "%s.tmp.XXXXXX", path) == -1) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((fd = mkstemp(tmp)) == -1)
		return (-1);
	(void)fchmod(fd, 0640);
	return (fd);
}

/* Move tmp to path once its data is on disk. 0 or -1 (tmp removed). */
static int
publish(int fd, const char *tmp, const char *path)
{
	if (fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
		int	 saved = errno;

		(void)unlink(tmp);
		errno = saved;
		return (-1);
	}
	(void)fsync_parent(path);
	return (0);
}

static int
member_lock(const char *path)
{
	char	 lock[1024];
	int	 fd;

	if (path_fmt(lock, sizeof(lock), "%s.lock", path) == -1 ||
	    (fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1)
		return (-1);
	if (flock(fd, LOCK_EX) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
helm_member_write(const char *path, int64_t gen, struct helm_record *recs,
    size_t n, char **cause)
{
	struct helm_buf	 b;
	char		 tmp[1024];
	unsigned char	 head[12];
	int64_t		 have;
	size_t		 i;
	int		 fd = -1, lock, ret = -1;

	memset(&b, 0, sizeof(b));
	if ((lock = member_lock(path)) == -1) {
		xasprintf(cause, "lock %s: %s", path, strerror(errno));
		return (-1);
	}
	if (gen > 0 && helm_member_gen(path, &have) == 0 && have > gen) {
		ret = 1;
		goto fail;
	}
	if (n > 0)
		qsort(recs, n, sizeof(*recs), record_cmp);
	memcpy(head, HELM_MEMBER_MAGIC, 4);
	for (i = 0; i < 8; i++)
		head[4 + i] = (unsigned char)((uint64_t)gen >> (56 - 8 * i));
	buf_add(&b, head, sizeof(head));
	for (i = 0; i < n; i++)
		if (record_encode(&recs[i], &b) == -1) {
			xasprintf(cause, "chart %s %s: entry too large",
			    recs[i].hr_name, recs[i].hr_version);
			goto fail;
		}
	if ((fd = temp_beside(path, tmp, sizeof(tmp))) == -1 ||
	    write_all(fd, b.b_data, b.b_len) == -1 ||
	    publish(fd, tmp, path) == -1) {
		xasprintf(cause, "write %s: %s", path, strerror(errno));
		if (fd != -1)
			(void)unlink(tmp);
		fd = -1;
		goto fail;
	}
	ret = 0;
fail:
	free(b.b_data);
	close(lock);
	return (ret);
}

/* Write one record with its leading count. 0 or -1. */
static int
record_write(int fd, const struct helm_record *r)
{
	struct helm_buf	 b;
	int		 ret;

	memset(&b, 0, sizeof(b));
	ret = record_encode(r, &b) == -1 ? -1 : write_all(fd, b.b_data,
	    b.b_len);
	free(b.b_data);
	return (ret);
}

int
helm_member_apply(const char *path, int64_t gen, const char *name,
    const char *version, const struct helm_record *rec, char **cause)
{
	struct helm_reader	 rd;
	struct helm_record	 key;
	unsigned char		 head[12];
	char			 tmp[1024];
	int64_t			 have = 0;
	size_t			 i;
	int			 fd = -1, lock, r, done = 0, ret = -1;

	memset(&rd, 0, sizeof(rd));
	if ((lock = member_lock(path)) == -1) {
		xasprintf(cause, "lock %s: %s", path, strerror(errno));
		return (-1);
	}
	if (reader_open(&rd, path, &have) == -1) {
		if (errno != ENOENT) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		have = 0;
	}
	if (have >= gen) {
		ret = 1;	/* a later change is in already */
		goto fail;
	}
	if (have != gen - 1) {
		ret = 2;	/* a change is missing: the caller rebuilds */
		goto fail;
	}
	memset(&key, 0, sizeof(key));
	key.hr_name = (char *)(uintptr_t)name;
	key.hr_version = (char *)(uintptr_t)version;
	memcpy(head, HELM_MEMBER_MAGIC, 4);
	for (i = 0; i < 8; i++)
		head[4 + i] = (unsigned char)((uint64_t)gen >> (56 - 8 * i));
	if ((fd = temp_beside(path, tmp, sizeof(tmp))) == -1 ||
	    write_all(fd, head, sizeof(head)) == -1)
		goto wfail;
	while ((r = reader_next(&rd)) == 1) {
		int	 c = record_cmp(&rd.rd_rec, &key);

		if (c >= 0 && !done) {
			if (rec != NULL && record_write(fd, rec) == -1)
				goto wfail;
			done = 1;
		}
		if (c == 0)
			continue;	/* the old one */
		if (record_write(fd, &rd.rd_rec) == -1)
			goto wfail;
	}
	if (r == -1) {
		xasprintf(cause, "%s: damaged", path);
		goto fail;
	}
	if (!done && rec != NULL && record_write(fd, rec) == -1)
		goto wfail;
	if (publish(fd, tmp, path) == -1) {
		fd = -1;
		goto wfail;
	}
	fd = -1;
	ret = 0;
	goto fail;
wfail:
	xasprintf(cause, "write %s: %s", path, strerror(errno));
fail:
	if (fd != -1) {
		close(fd);
		(void)unlink(tmp);
	}
	reader_close(&rd);
	close(lock);
	return (ret);
}

int
helm_member_gen(const char *path, int64_t *gen)
{
	struct helm_reader	 rd;

	if (reader_open(&rd, path, gen) == -1)
		return (-1);
	reader_close(&rd);
	return (0);
}

int
helm_member_find(const char *path, const char *file, struct helm_record *rec)
{
	struct helm_reader	 rd;
	size_t			 fl = strlen(file), nl, vl;
	int			 r;

	memset(rec, 0, sizeof(*rec));
	if (reader_open(&rd, path, NULL) == -1)
		return (-1);
	while ((r = reader_next(&rd)) == 1) {
		nl = strlen(rd.rd_rec.hr_name);
		vl = strlen(rd.rd_rec.hr_version);
		if (nl + 1 + vl + 4 != fl ||
		    strncmp(file, rd.rd_rec.hr_name, nl) != 0 ||
		    file[nl] != '-' ||
		    strncmp(file + nl + 1, rd.rd_rec.hr_version, vl) != 0 ||
		    strcmp(file + nl + 1 + vl, ".tgz") != 0)
			continue;
		*rec = rd.rd_rec;
		memset(&rd.rd_rec, 0, sizeof(rd.rd_rec));
		break;
	}
	reader_close(&rd);
	return (r);
}

int
helm_version_safe(const char *v)
{
	size_t	 n = strlen(v);

	return (n > 0 && n <= HELM_VERSION_MAX && strspn(v,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.+_-") == n && v[0] != '.');
}

/* Whether d is a sha256 digest: 64 lower-case hex digits. */
int
helm_digest_ok(const char *d)
{
	return (d != NULL && strlen(d) == 64 &&
	    strspn(d, "0123456789abcdef") == 64);
}

/* The next parser event. 0, or -1 with pa_cause. */
static int
parse_next(struct helm_parse *pa, yaml_event_t *ev)
{
	if (yaml_parser_parse(&pa->pa_parser, ev))
		return (0);
	if (pa->pa_cause == NULL)
		xasprintf(&pa->pa_cause, "index.yaml is not valid YAML: %s "
		    "(line %zu)", pa->pa_parser.problem ?
		    pa->pa_parser.problem : "error",
		    pa->pa_parser.problem_mark.line + 1);
	return (-1);
}

/* Skip the node that ev (consumed) starts. */
static int
parse_skip(struct helm_parse *pa, yaml_event_t *ev)
{
	int	 depth = 0;

	for (;;) {
		switch (ev->type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(ev);
			xasprintf(&pa->pa_cause, "index.yaml ends early");
			return (-1);
		default:
			break;
		}
		yaml_event_delete(ev);
		if (depth == 0)
			return (0);
		if (parse_next(pa, ev) == -1)
			return (-1);
	}
}

/* The scalar value of ev, or NULL. */
static const char *
ev_scalar(const yaml_event_t *ev)
{
	if (ev->type != YAML_SCALAR_EVENT)
		return (NULL);
	return ((const char *)ev->data.scalar.value);
}

int
helm_index_parse(const char *in_path, const char *index_url,
    const char *out_path, size_t *entries, size_t *skipped, char **cause)
{
	struct helm_parse	 pa;
	struct helm_buf		 b;
	yaml_event_t		 ev;
	FILE			*in = NULL;
	char			 tmp[1024], *p;
	unsigned char		 head[12];
	size_t			 i;
	int			 fd = -1, ret = -1, done = 0;

	memset(&pa, 0, sizeof(pa));
	memset(&b, 0, sizeof(b));
	pa.pa_url = index_url;
	yaml_parser_initialize(&pa.pa_parser);
	if ((in = fopen(in_path, "re")) == NULL ||
	    (pa.pa_tmp = tmpfile()) == NULL) {
		xasprintf(&pa.pa_cause, "open: %s", strerror(errno));
		goto fail;
	}
	yaml_parser_set_input_file(&pa.pa_parser, in);
	while (!done) {
		if (parse_next(&pa, &ev) == -1)
			goto fail;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_START_EVENT:
			yaml_event_delete(&ev);
			break;
		case YAML_MAPPING_START_EVENT:
			yaml_event_delete(&ev);
			if (parse_entries(&pa) == -1)
				goto fail;
			done = 1;
			break;
		default:
			yaml_event_delete(&ev);
			xasprintf(&pa.pa_cause, "index.yaml is not a mapping");
			goto fail;
		}
	}
	if (pa.pa_nslots > 0)
		qsort(pa.pa_slots, pa.pa_nslots, sizeof(*pa.pa_slots),
		    slot_cmp);
	if ((fd = temp_beside(out_path, tmp, sizeof(tmp))) == -1) {
		xasprintf(&pa.pa_cause, "%s: %s", out_path, strerror(errno));
		goto fail;
	}
	memcpy(head, HELM_MEMBER_MAGIC, 4);
	memset(head + 4, 0, 8);
	if (write_all(fd, head, sizeof(head)) == -1)
		goto wfail;
	for (i = 0; i < pa.pa_nslots; i++) {
		p = xmalloc(pa.pa_slots[i].sl_len);
		if (fseeko(pa.pa_tmp, pa.pa_slots[i].sl_off, SEEK_SET) == -1 ||
		    fread(p, 1, pa.pa_slots[i].sl_len, pa.pa_tmp) !=
		    pa.pa_slots[i].sl_len ||
		    write_all(fd, p, pa.pa_slots[i].sl_len) == -1) {
			free(p);
			goto wfail;
		}
		free(p);
	}
	if (publish(fd, tmp, out_path) == -1) {
		fd = -1;
		goto wfail;
	}
	fd = -1;
	*entries = pa.pa_nslots;
	*skipped = pa.pa_skipped;
	ret = 0;
	goto fail;
wfail:
	xasprintf(&pa.pa_cause, "write %s: %s", out_path, strerror(errno));
	if (fd != -1) {
		close(fd);
		(void)unlink(tmp);
	}
fail:
	if (ret == -1)
		*cause = pa.pa_cause != NULL ? pa.pa_cause :
		    xstrdup("index.yaml could not be read");
	else
		free(pa.pa_cause);
	for (i = 0; i < pa.pa_nslots; i++) {
		free(pa.pa_slots[i].sl_name);
		free(pa.pa_slots[i].sl_version);
	}
	free(pa.pa_slots);
	free(b.b_data);
	yaml_parser_delete(&pa.pa_parser);
	if (pa.pa_tmp != NULL)
		fclose(pa.pa_tmp);
	if (in != NULL)
		fclose(in);
	return (ret);
}

/* The top mapping's keys; "entries" holds the charts. */
static int
parse_entries(struct helm_parse *pa)
{
	yaml_event_t	 ev;
	const char	*key;
	int		 is_entries;

	for (;;) {
		if (parse_next(pa, &ev) == -1)
			return (-1);
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		key = ev_scalar(&ev);
		is_entries = key != NULL && strcmp(key, "entries") == 0;
		if (parse_skip(pa, &ev) == -1 || parse_next(pa, &ev) == -1)
			return (-1);
		if (!is_entries || ev.type != YAML_MAPPING_START_EVENT) {
			if (parse_skip(pa, &ev) == -1)
				return (-1);
			continue;
		}
		yaml_event_delete(&ev);
		/* name: [ versions ] ... */
		for (;;) {
			char	*name;

			if (parse_next(pa, &ev) == -1)
				return (-1);
			if (ev.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&ev);
				break;
			}
			name = ev_scalar(&ev) ? xstrdup(ev_scalar(&ev)) : NULL;
			if (parse_skip(pa, &ev) == -1 ||
			    parse_versions(pa, name) == -1) {
				free(name);
				return (-1);
			}
			free(name);
		}
	}
}

/* The sequence of versions of chart name (NULL: a bad key, skipped). */
static int
parse_versions(struct helm_parse *pa, const char *name)
{
	yaml_event_t	 ev;

	if (parse_next(pa, &ev) == -1)
		return (-1);
	if (ev.type != YAML_SEQUENCE_START_EVENT || name == NULL ||
	    !helm_name_ok(name)) {
		if (name != NULL)
			pa->pa_skipped++;
		return (parse_skip(pa, &ev));
	}
	yaml_event_delete(&ev);
	for (;;) {
		if (parse_next(pa, &ev) == -1)
			return (-1);
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return (0);
		}
		if (ev.type != YAML_MAPPING_START_EVENT) {
			pa->pa_skipped++;
			if (parse_skip(pa, &ev) == -1)
				return (-1);
			continue;
		}
		yaml_event_delete(&ev);
		if (parse_entry(pa, name) == -1)
			return (-1);
	}
}

/* The shape Helm gives the index entry field key. */
static enum helm_shape
field_shape(const char *key)
{
	static const char *const scalars[] = { "name", "version",
	    "description", "appVersion", "kubeVersion", "home", "icon",
	    "type", "apiVersion", "deprecated", "digest", "created",
	    "engine", "tillerVersion", "condition", "tags" };
	static const char *const lists[] = { "keywords", "sources", "urls" };
	size_t	 i;

	for (i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++)
		if (strcmp(key, scalars[i]) == 0)
			return (SHAPE_SCALAR);
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (strcmp(key, lists[i]) == 0)
			return (SHAPE_SCALARS);
	if (strcmp(key, "maintainers") == 0)
		return (SHAPE_FLAT_MAPS);
	if (strcmp(key, "dependencies") == 0)
		return (SHAPE_MAPS);
	return (SHAPE_ANY);
}

/* A node tag Helm reads: none, or one of the YAML core schema. */
static int
tag_ok(const yaml_char_t *tag)
{
	return (tag == NULL || strncmp((const char *)tag,
	    "tag:yaml.org,2002:", 18) == 0);
}

/*
 * Copy the node ev starts (consumed) to the emitter; anchors dropped,
 * aliases become null. The first scalar goes to *first when not NULL.
 * A node deeper than HELM_ENTRY_DEPTH_MAX, a scalar longer than
 * HELM_SCALAR_MAX or holding a NUL, a foreign tag or a node not of
 * shape sets *bad, and the rest of the node is only read.
 */
static int
parse_copy(struct helm_parse *pa, yaml_emitter_t *em, yaml_event_t *ev,
    char **first, enum helm_shape shape, int *bad)
{
	int	 depth = 0, wrong = 0;

	for (;;) {
		switch (ev->type) {
		case YAML_MAPPING_START_EVENT:
			free(ev->data.mapping_start.anchor);
			ev->data.mapping_start.anchor = NULL;
			wrong = !tag_ok(ev->data.mapping_start.tag) ||
			    (shape != SHAPE_ANY && (depth == 0 ||
			    (depth == 1 && shape == SHAPE_SCALARS) ||
			    (depth == 2 && shape == SHAPE_FLAT_MAPS)));
			depth++;
			break;
		case YAML_SEQUENCE_START_EVENT:
			free(ev->data.sequence_start.anchor);
			ev->data.sequence_start.anchor = NULL;
			wrong = !tag_ok(ev->data.sequence_start.tag) ||
			    (shape == SHAPE_SCALAR && depth == 0) ||
			    (shape != SHAPE_ANY && shape != SHAPE_SCALAR &&
			    (depth == 1 || (depth == 2 &&
			    shape == SHAPE_FLAT_MAPS)));
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			free(ev->data.scalar.anchor);
			ev->data.scalar.anchor = NULL;
			wrong = !tag_ok(ev->data.scalar.tag) ||
			    ev->data.scalar.length > HELM_SCALAR_MAX ||
			    memchr(ev->data.scalar.value, '\0',
			    ev->data.scalar.length) != NULL ||
			    (depth == 0 && shape != SHAPE_ANY &&
			    shape != SHAPE_SCALAR) ||
			    (depth == 1 && (shape == SHAPE_MAPS ||
			    shape == SHAPE_FLAT_MAPS));
			if (first != NULL && *first == NULL)
				*first = xstrdup(ev_scalar(ev));
			/* May be quoted when it cannot stay plain: no "!". */
			if (ev->data.scalar.tag == NULL)
				ev->data.scalar.quoted_implicit = 1;
			break;
		case YAML_ALIAS_EVENT:
			yaml_event_delete(ev);
			yaml_scalar_event_initialize(ev, NULL, NULL,
			    (yaml_char_t *)"null", 4, 1, 0,
			    YAML_PLAIN_SCALAR_STYLE);
			break;
		default:
			yaml_event_delete(ev);
			xasprintf(&pa->pa_cause, "index.yaml: unexpected event");
			return (-1);
		}
		if (wrong || depth > HELM_ENTRY_DEPTH_MAX) {
			*bad = 1;
			em = NULL;
			wrong = 0;
		}
		if (em != NULL) {
			if (!yaml_emitter_emit(em, ev)) {
				xasprintf(&pa->pa_cause, "index.yaml: entry "
				    "cannot be rendered: %s", em->problem ?
				    em->problem : "error");
				return (-1);
			}
		} else
			yaml_event_delete(ev);
		if (depth == 0)
			return (0);
		if (parse_next(pa, ev) == -1)
			return (-1);
	}
}

/* One chart version (its mapping has started) into the temp file. */
static int
parse_entry(struct helm_parse *pa, const char *name)
{
	yaml_emitter_t		 em;
	yaml_event_t		 ev;
	struct helm_buf		 yaml, rec;
	struct helm_record	 r;
	struct helm_slot	*sl;
	char			*version = NULL, *digest = NULL, *url = NULL;
	char			*ename = NULL;
	char			*key, *file, *link, **capture;
	enum helm_shape		 shape;
	int			 ret = -1, emitting = 1, bad = 0;
	int			 seen = 0, field;

	memset(&yaml, 0, sizeof(yaml));
	memset(&rec, 0, sizeof(rec));
	memset(&r, 0, sizeof(r));
	yaml_emitter_initialize(&em);
	yaml_emitter_set_output(&em, buf_write_cb, &yaml);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	yaml_emitter_emit(&em, &ev);
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
	    YAML_BLOCK_MAPPING_STYLE);
	yaml_emitter_emit(&em, &ev);
	for (;;) {
		if (parse_next(pa, &ev) == -1)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (ev.type != YAML_SCALAR_EVENT) {
			/* A key that is no string: drop it and its value. */
			if (parse_skip(pa, &ev) == -1 ||
			    parse_next(pa, &ev) == -1 ||
			    parse_skip(pa, &ev) == -1)
				goto fail;
			continue;
		}
		key = xstrdup(ev_scalar(&ev));
		/* A field depot reads given twice: which one counts? */
		field = strcmp(key, "name") == 0 ? 1 :
		    strcmp(key, "version") == 0 ? 2 :
		    strcmp(key, "digest") == 0 ? 4 :
		    strcmp(key, "urls") == 0 ? 8 : 0;
		if (seen & field)
			bad = 1;
		seen |= field;
		shape = field_shape(key);
		capture = strcmp(key, "version") == 0 ? &version :
		    strcmp(key, "digest") == 0 ? &digest :
		    strcmp(key, "name") == 0 ? &ename : NULL;
		if (strcmp(key, "urls") == 0) {
			free(key);
			yaml_event_delete(&ev);
			if (parse_next(pa, &ev) == -1 || parse_copy(pa, NULL,
			    &ev, &url, shape, &bad) == -1)
				goto fail;
			continue;
		}
		free(key);
		/* The emitter owns what it is given, even on failure. */
		if (ev.data.scalar.tag == NULL)
			ev.data.scalar.quoted_implicit = 1;
		if (!emitting)
			yaml_event_delete(&ev);
		else if (!yaml_emitter_emit(&em, &ev))
			emitting = 0;
		if (parse_next(pa, &ev) == -1 || parse_copy(pa,
		    emitting ? &em : NULL, &ev, capture, shape, &bad) == -1)
			goto fail;
		if (bad)
			emitting = 0;
	}
	yaml_event_delete(&ev);
	/*
	 * Only an entry whose sha256 digest depot can check is offered:
	 * without one the fill would relay whatever its URL answers.
	 */
	if (version == NULL || !helm_version_safe(version) || url == NULL ||
	    !emitting || bad || ename == NULL || strcmp(ename, name) != 0 ||
	    !helm_digest_ok(digest)) {
		pa->pa_skipped++;
		ret = 0;
		goto fail;
	}
	file = helm_chart_file(name, version);
	xasprintf(&link, "charts/%s", file);
	free(file);
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)"urls",
	    4, 1, 0, YAML_PLAIN_SCALAR_STYLE);
	yaml_emitter_emit(&em, &ev);
	yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
	    YAML_BLOCK_SEQUENCE_STYLE);
	yaml_emitter_emit(&em, &ev);
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)link,
	    (int)strlen(link), 0, 1, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	yaml_emitter_emit(&em, &ev);
	free(link);
	yaml_sequence_end_event_initialize(&ev);
	yaml_emitter_emit(&em, &ev);
	yaml_mapping_end_event_initialize(&ev);
	yaml_emitter_emit(&em, &ev);
	yaml_document_end_event_initialize(&ev, 1);
	yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	if (!yaml_emitter_emit(&em, &ev) || !yaml_emitter_flush(&em)) {
		pa->pa_skipped++;
		ret = 0;
		goto fail;
	}
	r.hr_name = (char *)(uintptr_t)name;
	r.hr_version = version;
	r.hr_digest = digest != NULL ? digest : (char *)"";
	if (helm_url_resolve(pa->pa_url, url, &r.hr_url) == -1) {
		pa->pa_skipped++;
		ret = 0;
		goto fail;
	}
	r.hr_yaml = yaml.b_data;
	r.hr_yaml_len = yaml.b_len;
	if (record_encode(&r, &rec) == -1) {
		pa->pa_skipped++;
		ret = 0;
		goto fail;
	}
	if (fwrite(rec.b_data, 1, rec.b_len, pa->pa_tmp) != rec.b_len) {
		xasprintf(&pa->pa_cause, "write: %s", strerror(errno));
		goto fail;
	}
	pa->pa_slots = xreallocarray(pa->pa_slots, pa->pa_nslots + 1,
	    sizeof(*pa->pa_slots));
	sl = &pa->pa_slots[pa->pa_nslots++];
	sl->sl_name = xstrdup(name);
	sl->sl_version = version;
	version = NULL;
	sl->sl_off = pa->pa_off;
	sl->sl_len = (uint32_t)rec.b_len;
	pa->pa_off += rec.b_len;
	ret = 0;
fail:
	yaml_emitter_delete(&em);
	free(r.hr_url);
	free(version);
	free(digest);
	free(ename);
	free(url);
	free(yaml.b_data);
	free(rec.b_data);
	return (ret);
}

static int
write_out(int fd, struct digester *dg, const void *p, size_t n)
{
	digester_update(dg, p, n);
	return (write_all(fd, p, n));
}

/* An entry's YAML indented as an item of a chart's list. */
static int
render_entry(int fd, struct digester *dg, const struct helm_record *r)
{
	struct helm_buf	 b;
	const char	*p = r->hr_yaml, *end = r->hr_yaml + r->hr_yaml_len;
	const char	*nl;
	int		 first = 1, ret;

	memset(&b, 0, sizeof(b));
	while (p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (nl - p == 3 && memcmp(p, "...", 3) == 0)
			break;
		buf_add(&b, first ? "  - " : "    ", 4);
		buf_add(&b, p, nl - p);
		buf_add(&b, "\n", 1);
		first = 0;
		p = nl + 1;
	}
	ret = b.b_len ? write_out(fd, dg, b.b_data, b.b_len) : 0;
	free(b.b_data);
	return (ret);
}

/*
 * The merge: take the smallest chart name at the head of any member,
 * gather its versions from every member in order (an earlier member's
 * version wins), newest first, and write them.
 */
static int
render_write(int fd, struct helm_reader *rd, size_t n, struct digester *dg,
    char **cause)
{
	struct helm_record	*list = NULL;
	const char		*min;
	char			*name, *q;
	size_t			 i, j, count = 0, names = 0;
	int			 dup, ret = -1;

	if (write_out(fd, dg, "apiVersion: v1\n", 15) == -1)
		goto wfail;
	for (;;) {
		min = NULL;
		for (i = 0; i < n; i++)
			if (rd[i].rd_have && (min == NULL ||
			    strcmp(rd[i].rd_rec.hr_name, min) < 0))
				min = rd[i].rd_rec.hr_name;
		if (min == NULL)
			break;
		name = xstrdup(min);
		count = 0;
		for (i = 0; i < n; i++) {
			while (rd[i].rd_have &&
			    strcmp(rd[i].rd_rec.hr_name, name) == 0) {
				for (dup = 0, j = 0; j < count && !dup; j++)
					dup = strcmp(list[j].hr_version,
					    rd[i].rd_rec.hr_version) == 0;
				if (!dup) {
					list = xreallocarray(list, count + 1,
					    sizeof(*list));
					list[count++] = rd[i].rd_rec;
					memset(&rd[i].rd_rec, 0,
					    sizeof(rd[i].rd_rec));
				}
				if (reader_next(&rd[i]) == -1) {
					xasprintf(cause, "damaged member file");
					free(name);
					goto fail;
				}
			}
		}
		qsort(list, count, sizeof(*list), record_cmp);
		q = helm_yaml_quote(name);
		if ((names == 0 && write_out(fd, dg, "entries:\n", 9) == -1) ||
		    write_out(fd, dg, "  ", 2) == -1 ||
		    write_out(fd, dg, q, strlen(q)) == -1 ||
		    write_out(fd, dg, ":\n", 2) == -1) {
			free(q);
			free(name);
			goto wfail;
		}
		free(q);
		free(name);
		for (j = 0; j < count; j++) {
			if (render_entry(fd, dg, &list[j]) == -1)
				goto wfail;
			helm_record_clear(&list[j]);
		}
		names++;
		count = 0;
	}
	if (names == 0 && write_out(fd, dg, "entries: {}\n", 12) == -1)
		goto wfail;
	ret = 0;
	goto fail;
wfail:
	xasprintf(cause, "write: %s", strerror(errno));
fail:
	for (j = 0; j < count; j++)
		helm_record_clear(&list[j]);
	free(list);
	return (ret);
}

/* Write the .gz of src to dst (libarchive's raw format, gzip filter). */
static int
render_gzip(const char *src, const char *dst, char **cause)
{
	struct archive		*a;
	struct archive_entry	*e;
	struct stat		 st;
	char			 buf[64 * 1024];
	ssize_t			 n;
	int			 fd, ret = -1;

	if ((fd = open(src, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		xasprintf(cause, "%s: %s", src, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	a = archive_write_new();
	e = archive_entry_new();
	archive_write_add_filter_gzip(a);
	archive_write_set_format_raw(a);
	archive_entry_set_pathname(e, "index.yaml");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, st.st_size);
	if (archive_write_open_filename(a, dst) != ARCHIVE_OK ||
	    archive_write_header(a, e) != ARCHIVE_OK)
		goto afail;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(a, buf, (size_t)n) != n)
			goto afail;
	if (n == -1 || archive_write_close(a) != ARCHIVE_OK)
		goto afail;
	ret = 0;
	goto fail;
afail:
	xasprintf(cause, "gzip %s: %s", dst, archive_error_string(a) ?
	    archive_error_string(a) : strerror(errno));
fail:
	archive_entry_free(e);
	archive_write_free(a);
	close(fd);
	return (ret);
}

/* Remove rendered files other than keep and prev (a reader may hold it). */
static void
render_prune(const char *dir, const char *keep, const char *prev)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[1024];
	size_t		 kl = strlen(keep), pl = strlen(prev);

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "index-", 6) != 0 ||
		    strncmp(de->d_name, keep, kl) == 0 ||
		    (pl > 0 && strncmp(de->d_name, prev, pl) == 0))
			continue;
		if (path_fmt(path, sizeof(path), "%s/%s", dir,
		    de->d_name) == 0)
			(void)unlink(path);
	}
	closedir(d);
}

int
helm_render(const char *dir, const char *const *members, size_t n,
    char **cause)
{
	struct helm_reader	*rd;
	struct digester		*dg = NULL;
	struct digest		 d;
	struct tm		 tm;
	time_t			 now = time(NULL);
	char			 tmp[1024], path[1024], gz[1024], link[1024];
	char			 name[128], prev[128], gen[64];
	size_t			 i;
	ssize_t			 len;
	int			 fd = -1, lock = -1, ret = -1;

	rd = xcalloc(n ? n : 1, sizeof(*rd));
	if (mkdir_p(dir, 0750) == -1 ||
	    path_fmt(path, sizeof(path), "%s/lock", dir) == -1 ||
	    (lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) == -1 ||
	    flock(lock, LOCK_EX) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	for (i = 0; i < n; i++)
		if (reader_open(&rd[i], members[i], NULL) == -1 ||
		    reader_next(&rd[i]) == -1) {
			xasprintf(cause, "%s: %s", members[i],
			    strerror(errno));
			goto fail;
		}
	if (path_fmt(tmp, sizeof(tmp), "%s/render.XXXXXX", dir) == -1 ||
	    (fd = mkstemp(tmp)) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	(void)fchmod(fd, 0640);
	dg = digester_create(DIGEST_SHA256);
	if (render_write(fd, rd, n, dg, cause) == -1)
		goto fail;
	gmtime_r(&now, &tm);
	strftime(gen, sizeof(gen), "generated: \"%Y-%m-%dT%H:%M:%SZ\"\n",
	    &tm);
	if (write_out(fd, dg, gen, strlen(gen)) == -1 || fsync(fd) == -1) {
		xasprintf(cause, "write: %s", strerror(errno));
		goto fail;
	}
	digester_final(dg, &d);
	snprintf(name, sizeof(name), "index-%.64s.yaml", d.hex);
	if (path_fmt(path, sizeof(path), "%s/%s", dir, name) == -1 ||
	    path_fmt(gz, sizeof(gz), "%s/%s.gz", dir, name) == -1 ||
	    render_gzip(tmp, gz, cause) == -1)
		goto fail;
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		fd = -1;
		xasprintf(cause, "%s: %s", path, strerror(errno));
		goto fail;
	}
	fd = -1;
	prev[0] = '\0';
	if (path_fmt(link, sizeof(link), "%s/" HELM_RENDER_NAME, dir) == 0 &&
	    (len = readlink(link, prev, sizeof(prev) - 1)) > 0)
		prev[len] = '\0';
	if (path_fmt(tmp, sizeof(tmp), "%s/current.%ld", dir,
	    (long)getpid()) == -1 || (unlink(tmp) == -1 && errno != ENOENT) ||
	    symlink(name, tmp) == -1 || rename(tmp, link) == -1) {
		xasprintf(cause, "%s: %s", link, strerror(errno));
		goto fail;
	}
	(void)fsync_parent(link);
	if (strcmp(prev, name) != 0)
		render_prune(dir, name, prev);
	ret = 0;
fail:
	if (fd != -1) {
		close(fd);
		(void)unlink(tmp);
	}
	if (dg != NULL)
		digester_free(dg);
	for (i = 0; i < n; i++)
		reader_close(&rd[i]);
	free(rd);
	if (lock != -1)
		close(lock);
	return (ret);
}

int
helm_render_open(const char *dir, int gz, char *name, size_t namelen,
    int *fd)
{
	char	 link[1024], path[1024];
	ssize_t	 len;
	int	 tries;

	if (path_fmt(link, sizeof(link), "%s/" HELM_RENDER_NAME, dir) == -1)
		return (-1);
	for (tries = 0; tries < 3; tries++) {
		if ((len = readlink(link, name, namelen - 1)) <= 0)
			return (-1);
		name[len] = '\0';
		if (strncmp(name, "index-", 6) != 0 || strchr(name, '/')) {
			errno = EINVAL;
			return (-1);
		}
		if (path_fmt(path, sizeof(path), "%s/%s%s", dir, name,
		    gz ? ".gz" : "") == -1)
			return (-1);
		if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) != -1)
			return (0);
		if (errno != ENOENT)
			return (-1);
	}
	return (-1);
}

/* RFC 3986 5.2.4: remove "." and ".." segments. Caller frees. */
static char *
url_remove_dots(const char *in)
{
	char	*out = xcalloc(1, strlen(in) + 2), *slash;
	size_t	 o = 0;

	while (*in != '\0') {
		if (strncmp(in, "../", 3) == 0)
			in += 3;
		else if (strncmp(in, "./", 2) == 0)
			in += 2;
		else if (strncmp(in, "/./", 3) == 0)
			in += 2;
		else if (strcmp(in, "/.") == 0)
			in = "/";
		else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
			in = in[3] == '\0' ? "/" : in + 3;
			out[o] = '\0';
			slash = strrchr(out, '/');
			o = slash != NULL ? (size_t)(slash - out) : 0;
			out[o] = '\0';
		} else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0)
			in += strlen(in);
		else {
			do
				out[o++] = *in++;
			while (*in != '\0' && *in != '/');
		}
	}
	out[o] = '\0';
	return (out);
}

/* scheme://authority + path (dots removed) + query. Caller frees. */
static char *
url_join(const char *scheme, size_t sl, const char *authority, size_t al,
    const char *pathquery)
{
	size_t	 pl = strcspn(pathquery, "?");
	char	*path = xstrndup(pathquery, pl), *clean, *out;

	clean = url_remove_dots(path);
	xasprintf(&out, "%.*s://%.*s%s%s", (int)sl, scheme, (int)al, authority,
	    clean[0] == '/' || clean[0] == '\0' ? "" : "/", clean);
	free(clean);
	clean = out;
	xasprintf(&out, "%s%s", clean, pathquery + pl);
	free(clean);
	free(path);
	return (out);
}

/* Split an absolute URL; -1 when url has no "scheme://". */
static int
url_split(const char *url, size_t *sl, const char **auth, size_t *al,
    const char **rest)
{
	size_t	 n;

	n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+.-");
	if (n == 0 || strncmp(url + n, "://", 3) != 0)
		return (-1);
	*sl = n;
	*auth = url + n + 3;
	*al = strcspn(*auth, "/?");
	*rest = *auth + *al;
	return (0);
}

int
helm_url_resolve(const char *base, const char *ref, char **out)
{
	const char	*bauth, *brest, *rauth, *rrest, *slash;
	char		*r, *bpath, *merged;
	size_t		 bsl, bal, rsl, ral, n;

	*out = NULL;
	if (url_split(base, &bsl, &bauth, &bal, &brest) == -1)
		return (-1);
	r = xstrndup(ref, strcspn(ref, "#"));
	bpath = xstrndup(brest, strcspn(brest, "?#"));
	n = strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+.-");
	if (url_split(r, &rsl, &rauth, &ral, &rrest) == 0)
		*out = url_join(r, rsl, rauth, ral, rrest);
	else if (n > 0 && r[n] == ':')
		*out = xstrdup(r);	/* another scheme, left as it is */
	else if (strncmp(r, "//", 2) == 0) {
		ral = strcspn(r + 2, "/?");
		*out = url_join(base, bsl, r + 2, ral, r + 2 + ral);
	} else if (r[0] == '/')
		*out = url_join(base, bsl, bauth, bal, r);
	else if (r[0] == '\0' || r[0] == '?') {
		xasprintf(&merged, "%s%s", bpath, r[0] == '?' ? r :
		    brest + strlen(bpath));
		merged[strcspn(merged, "#")] = '\0';
		*out = url_join(base, bsl, bauth, bal, merged);
		free(merged);
	} else {
		if ((slash = strrchr(bpath, '/')) != NULL)
			xasprintf(&merged, "%.*s/%s", (int)(slash - bpath),
			    bpath, r);
		else
			xasprintf(&merged, "/%s", r);
		*out = url_join(base, bsl, bauth, bal, merged);
		free(merged);
	}
	free(r);
	free(bpath);
	return (0);
}

/* The next name in the merge: the smallest at the head of any member. */
static const char *
page_min(struct helm_reader *rd, size_t n)
{
	const char	*min = NULL;
	size_t		 i;

	for (i = 0; i < n; i++)
		if (rd[i].rd_have && (min == NULL ||
		    strcmp(rd[i].rd_rec.hr_name, min) < 0))
			min = rd[i].rd_rec.hr_name;
	return (min);
}

static int
page_cmp(const void *a, const void *b)
{
	const struct helm_listed	*x = a, *y = b;

	return (record_cmp(&x->hl_rec, &y->hl_rec));
}

/* 1 when match (ASCII, any case) is part of name. */
static int
page_match(const char *name, const char *match)
{
	size_t	 n = strlen(match), i;

	if (n == 0)
		return (1);
	for (; *name != '\0'; name++) {
		for (i = 0; i < n && name[i] != '\0'; i++)
			if (tolower((unsigned char)name[i]) !=
			    tolower((unsigned char)match[i]))
				break;
		if (i == n)
			return (1);
	}
	return (0);
}

int
helm_member_page(const char *const *members, size_t n, const char *match,
    const char *after_name, const char *after_version, size_t want,
    struct helm_listed **out, size_t *count, int *more, char **cause)
{
	struct helm_reader	*rd;
	struct helm_listed	*list = NULL, *got = NULL;
	const char		*min;
	char			*name;
	size_t			 i, j, start, nlist = 0, ngot = 0;
	int			 dup, skip, ret = -1;

	*out = NULL;
	*count = 0;
	*more = 0;
	rd = xcalloc(n ? n : 1, sizeof(*rd));
	for (i = 0; i < n; i++)
		if (reader_open(&rd[i], members[i], NULL) == -1 ||
		    reader_next(&rd[i]) == -1) {
			xasprintf(cause, "%s: %s", members[i],
			    strerror(errno));
			goto fail;
		}
	while (ngot <= want && (min = page_min(rd, n)) != NULL) {
		name = xstrdup(min);
		skip = (after_name != NULL && (after_version != NULL ?
		    strcmp(name, after_name) < 0 :
		    strcmp(name, after_name) <= 0)) ||
		    (match != NULL && !page_match(name, match));
		nlist = 0;
		for (i = 0; i < n; i++) {
			while (rd[i].rd_have &&
			    strcmp(rd[i].rd_rec.hr_name, name) == 0) {
				for (dup = skip, j = 0; j < nlist && !dup; j++)
					dup = strcmp(list[j].hl_rec.hr_version,
					    rd[i].rd_rec.hr_version) == 0;
				if (!dup) {
					list = xreallocarray(list, nlist + 1,
					    sizeof(*list));
					list[nlist].hl_rec = rd[i].rd_rec;
					list[nlist++].hl_member = i;
					memset(&rd[i].rd_rec, 0,
					    sizeof(rd[i].rd_rec));
				}
				if (reader_next(&rd[i]) == -1) {
					xasprintf(cause, "%s: damaged member "
					    "file", members[i]);
					free(name);
					goto fail;
				}
			}
		}
		if (nlist > 1)
			qsort(list, nlist, sizeof(*list), page_cmp);
		start = 0;
		if (after_name != NULL && after_version != NULL &&
		    strcmp(name, after_name) == 0) {
			/* after the version named, or its place in the order */
			for (j = 0; j < nlist; j++)
				if (strcmp(list[j].hl_rec.hr_version,
				    after_version) == 0)
					break;
			if (j < nlist)
				start = j + 1;
			else
				while (start < nlist && helm_semver_cmp(
				    list[start].hl_rec.hr_version,
				    after_version) >= 0)
					start++;
		}
		free(name);
		for (j = 0; j < nlist; j++) {
			if (j >= start && ngot <= want) {
				got = xreallocarray(got, ngot + 1,
				    sizeof(*got));
				got[ngot++] = list[j];
			} else
				helm_record_clear(&list[j].hl_rec);
		}
		nlist = 0;
	}
	if (ngot > want) {
		*more = 1;
		while (ngot > want)
			helm_record_clear(&got[--ngot].hl_rec);
	}
	*out = got;
	*count = ngot;
	got = NULL;
	ngot = 0;
	ret = 0;
fail:
	for (j = 0; j < nlist; j++)
		helm_record_clear(&list[j].hl_rec);
	free(list);
	helm_listed_free(got, ngot);
	for (i = 0; i < n; i++)
		reader_close(&rd[i]);
	free(rd);
	return (ret);
}

void
helm_listed_free(struct helm_listed *list, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		helm_record_clear(&list[i].hl_rec);
	free(list);
}

/*
 * The value of a top-level key of an entry when it is a scalar. Caller
 * frees. NULL when absent, not a scalar, or the YAML is damaged.
 */
char *
helm_entry_scalar(const char *yaml, size_t len, const char *key)
{
	yaml_parser_t	 p;
	yaml_event_t	 ev;
	char		*out = NULL;
	int		 depth = 0, want_key = 1, hit = 0, done = 0;

	if (!yaml_parser_initialize(&p))
		return (NULL);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	while (!done && yaml_parser_parse(&p, &ev)) {
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 1)
				want_key = 1;	/* a value: the next is a key */
			hit = 0;
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (--depth == 0)
				done = 1;
			break;
		case YAML_SCALAR_EVENT:
			if (depth != 1)
				break;
			if (want_key) {
				hit = strcmp((const char *)ev.data.scalar.value,
				    key) == 0;
				want_key = 0;
				break;
			}
			if (hit) {
				out = xstrndup((const char *)
				    ev.data.scalar.value, ev.data.scalar.length);
				done = 1;
			}
			want_key = 1;
			hit = 0;
			break;
		case YAML_ALIAS_EVENT:
			if (depth == 1)
				want_key = !want_key;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return (out);
}

int
helm_member_digests(const char *path, void (*fn)(void *, const char *),
    void *arg)
{
	struct helm_reader	 rd;
	int			 r;

	if (reader_open(&rd, path, NULL) == -1)
		return (-1);
	while ((r = reader_next(&rd)) == 1)
		if (rd.rd_rec.hr_digest[0] != '\0')
			fn(arg, rd.rd_rec.hr_digest);
	reader_close(&rd);
	return (r);
}
