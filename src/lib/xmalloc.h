/*
 * xmalloc.h: allocation wrappers that never return NULL (fatal on OOM).
 */
#ifndef DEPOT_XMALLOC_H
#define DEPOT_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

#include "depot.h"

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) PRINTFLIKE(2, 3);
int	 xvasprintf(char **, const char *, va_list)
	    __attribute__((__format__(__printf__, 2, 0)));

#endif /* DEPOT_XMALLOC_H */
