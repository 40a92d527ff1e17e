/* SPDX-License-Identifier: MIT */
/* Attribute lookup by name for kernels and passes. */
#include <math.h>
#include <string.h>

#include "graph.h"

const fy__attr *fy__attr_find(const fy__node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t fy__attr_int(const fy__node *n, const char *name, int64_t def)
{
    const fy__attr *a = fy__attr_find(n, name);
    if (a && a->type == FY_ATTR_INT)
        return a->i;
    if (a && a->type == FY_ATTR_FLOAT) /* saturate: NaN or huge floats must not be UB */
        return isnan(a->f) ? 0 : a->f >= 9.2e18f ? INT64_MAX : a->f <= -9.2e18f ? INT64_MIN : (int64_t)a->f;
    return def;
}

float fy__attr_float(const fy__node *n, const char *name, float def)
{
    const fy__attr *a = fy__attr_find(n, name);
    if (a && a->type == FY_ATTR_FLOAT)
        return a->f;
    if (a && a->type == FY_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *fy__attr_str(const fy__node *n, const char *name, const char *def)
{
    const fy__attr *a = fy__attr_find(n, name);
    return a && a->type == FY_ATTR_STRING ? a->s : def;
}

int64_t fy__attr_ints(const fy__node *n, const char *name, const int64_t **out)
{
    const fy__attr *a = fy__attr_find(n, name);
    if (a && a->type == FY_ATTR_INTS) {
        *out = a->ints;
        return a->n;
    }
    *out = NULL;
    return -1;
}

int64_t fy__attr_floats(const fy__node *n, const char *name, const float **out)
{
    const fy__attr *a = fy__attr_find(n, name);
    if (a && a->type == FY_ATTR_FLOATS) {
        *out = a->floats;
        return a->n;
    }
    *out = NULL;
    return -1;
}

const fy_tensor *fy__attr_tensor(const fy__node *n, const char *name)
{
    const fy__attr *a = fy__attr_find(n, name);
    return a && a->type == FY_ATTR_TENSOR ? a->t : NULL;
}
