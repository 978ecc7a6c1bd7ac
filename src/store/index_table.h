/*
 * index_table.h: what index.c lends the files that keep one table each
 * (store/index_helm.c): a transaction on the table's database handle,
 * with index.c's retries of lock conflicts. Only src/store includes it.
 */
#ifndef DEPOT_INDEX_TABLE_H
#define DEPOT_INDEX_TABLE_H

#include <db.h>

struct index;

/* A unit of work on one table; returns a Berkeley DB code (or errno). */
typedef int	(*index_table_fn)(DB *, DB_TXN *, void *);

/*
 * Run fn on the database opened from file (e.g. "helm.db") in a
 * transaction (a snapshot read when snapshot is set), retried on lock
 * conflicts, and commit it. 0, DB_NOTFOUND (quietly), or the error.
 */
int	index_table_run(struct index *, const char *file, const char *what,
	    int snapshot, index_table_fn, void *arg);

#endif /* DEPOT_INDEX_TABLE_H */
