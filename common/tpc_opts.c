/*  tpc_opts: the daemons' option table read from the command line and a
 *  --config JSON file (the contract is in tpc_opts.h).
 *
 *  One pass over argv stores each flag's value in its target and marks it
 *  given; then the config file fills only what no flag gave.  Strings are
 *  copied and owned here until tpc_opts_destroy.
 */
#include "tpc_opts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"

#define S_CONFIG_MAX (1024 * 1024)

struct tpc_opts {
    const char *prog;
    const tpc_opt_t *table;
    size_t n;
    bool *given;                /* by a flag or the file, per option */
    bool *by_flag;              /* by a flag: the file may not change it */
    char **strs;                /* stored STR values, per option */
    const char *config;         /* --config FILE (points into argv) */
    const char *text;           /* the config file's text while it is read
                                   (positions in errors), else NULL */
    bool help, version;
};

tpc_opts_t *
tpc_opts_new (const char *prog, const tpc_opt_t *table)
{
    tpc_opts_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->prog = prog;
    self->table = table;
    while (table[self->n].name)
        self->n++;
    size_t n = self->n ? self->n : 1;
    self->given = calloc (n, sizeof *self->given);
    self->by_flag = calloc (n, sizeof *self->by_flag);
    self->strs = calloc (n, sizeof *self->strs);
    if (!self->given || !self->by_flag || !self->strs)
        tpc_opts_destroy (&self);
    return self;
}

void
tpc_opts_destroy (tpc_opts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_opts_t *self = *self_p;
    for (size_t i = 0; self->strs && i < self->n; i++)
        if (self->strs[i]) {
            memset (self->strs[i], 0, strlen (self->strs[i]));
            free (self->strs[i]);
        }
    free (self->strs);
    free (self->given);
    free (self->by_flag);
    free (self);
    *self_p = NULL;
}

bool
tpc_opts_help (const tpc_opts_t *self)
{
    return self && self->help;
}

bool
tpc_opts_version (const tpc_opts_t *self)
{
    return self && self->version;
}

bool
tpc_opts_given (const tpc_opts_t *self, const char *name)
{
    for (size_t i = 0; self && i < self->n; i++)
        if (strcmp (self->table[i].name, name) == 0)
            return self->given[i];
    return false;
}

static void
s_err (char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || !errlen)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (errbuf, errlen, fmt, ap);
    va_end (ap);
}

/*  The line (from 1) and column (from 1) of AT in TEXT.                 */
static void
s_line_col (const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; *p && p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        }
        else
            (*col)++;
    }
}

/*  "FILE:LINE" of the first "KEY": in TEXT (a top-level key's place:
 *  the first such string followed by a colon), or "FILE" when not found,
 *  into BUF.                                                              */
static const char *
s_key_pos (const char *file, const char *text, const char *key, char *buf,
           size_t len)
{
    size_t n = strlen (key);
    for (const char *p = text ? strchr (text, '"') : NULL; p;
         p = strchr (p + 1, '"')) {
        if (strncmp (p + 1, key, n) || p[n + 1] != '"')
            continue;
        const char *q = p + n + 2;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
            q++;
        if (*q == ':') {
            int line, col;
            s_line_col (text, p, &line, &col);
            snprintf (buf, len, "%s:%d", file, line);
            return buf;
        }
    }
    snprintf (buf, len, "%s", file);
    return buf;
}

/*  Index of the option spelled NAME (LEN bytes); *OLD set when NAME is a
 *  deprecated spelling (the OLD name, or with SNAKE the snake_case form).
 *  -1 when none.                                                          */
static int
s_find (const tpc_opts_t *self, const char *name, size_t len, bool snake,
        bool *old)
{
    char kebab[64];
    *old = false;
    for (size_t i = 0; i < self->n; i++) {
        const tpc_opt_t *o = &self->table[i];
        if (strlen (o->name) == len && memcmp (o->name, name, len) == 0)
            return (int) i;
    }
    if (len >= sizeof kebab)
        return -1;
    memcpy (kebab, name, len);
    kebab[len] = '\0';
    if (snake)
        for (char *p = kebab; *p; p++)
            if (*p == '_')
                *p = '-';
    for (size_t i = 0; i < self->n; i++) {
        const tpc_opt_t *o = &self->table[i];
        if ((snake && strcmp (o->name, kebab) == 0)
            || (o->old && strcmp (o->old, kebab) == 0)) {
            *old = true;
            return (int) i;
        }
    }
    return -1;
}

/*  "an integer from 1 to 250" and the like, for option O.                 */
static const char *
s_range (const tpc_opt_t *o, char *buf, size_t len)
{
    if (o->max)
        snprintf (buf, len, "an integer from %" PRIu64 " to %" PRIu64,
                  o->min, o->max);
    else if (o->min)
        snprintf (buf, len, "an integer >= %" PRIu64, o->min);
    else
        snprintf (buf, len, "a non-negative integer");
    return buf;
}

static bool
s_in_range (const tpc_opt_t *o, uint64_t v)
{
    return v >= o->min && (o->max == 0 || v <= o->max);
}

static int
s_store_str (tpc_opts_t *self, size_t i, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return TPC_ENOMEM;
    if (self->strs[i]) {
        memset (self->strs[i], 0, strlen (self->strs[i]));
        free (self->strs[i]);
    }
    self->strs[i] = copy;
    *(const char **) self->table[i].target = copy;
    return 0;
}

/*  Option I from the command line: VALUE is its text (NULL for a flag).  */
static int
s_set_text (tpc_opts_t *self, size_t i, const char *value, char *errbuf,
            size_t errlen)
{
    const tpc_opt_t *o = &self->table[i];
    if (o->kind == TPC_OPT_FLAG)
        *(bool *) o->target = true;
    else if (o->kind == TPC_OPT_STR) {
        if (s_store_str (self, i, value))
            return TPC_ENOMEM;
    }
    else {
        char *end = NULL, what[80];
        errno = 0;
        unsigned long long v = strtoull (value, &end, 10);
        if (*value < '0' || *value > '9' || *end || errno
            || !s_in_range (o, v)) {
            s_err (errbuf, errlen, "--%s: '%s' is not %s", o->name, value,
                   s_range (o, what, sizeof what));
            return TPC_EINVAL;
        }
        *(uint64_t *) o->target = v;
    }
    self->given[i] = self->by_flag[i] = true;
    return 0;
}

/*  Option I from the config file FILE: IT is its JSON value.             */
static int
s_set_json (tpc_opts_t *self, size_t i, const cJSON *it, const char *file,
            char *errbuf, size_t errlen)
{
    const tpc_opt_t *o = &self->table[i];
    char what[80], pos[600];
    file = s_key_pos (file, self->text, it->string, pos, sizeof pos);
    if (o->kind == TPC_OPT_FLAG) {
        if (!cJSON_IsBool (it)) {
            s_err (errbuf, errlen, "config %s: \"%s\" must be true or false",
                   file, it->string);
            return TPC_ECONFIG;
        }
        *(bool *) o->target = cJSON_IsTrue (it);
    }
    else if (o->kind == TPC_OPT_STR) {
        if (!cJSON_IsString (it)) {
            s_err (errbuf, errlen, "config %s: \"%s\" must be a string",
                   file, it->string);
            return TPC_ECONFIG;
        }
        if (s_store_str (self, i, it->valuestring))
            return TPC_ENOMEM;
    }
    else {
        double d = cJSON_IsNumber (it) ? it->valuedouble : -1;
        if (d < 0 || d >= 9007199254740992.0 || d != (double) (uint64_t) d
            || !s_in_range (o, (uint64_t) d)) {
            s_err (errbuf, errlen, "config %s: \"%s\" must be %s", file,
                   it->string, s_range (o, what, sizeof what));
            return TPC_ECONFIG;
        }
        *(uint64_t *) o->target = (uint64_t) d;
    }
    self->given[i] = true;
    return 0;
}

/*  One argument ARGV[*A] (and its value, which moves *A on).              */
static int
s_parse_arg (tpc_opts_t *self, int argc, char **argv, int *a, FILE *msgs,
             char *errbuf, size_t errlen)
{
    const char *arg = argv[*a];
    if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0) {
        self->help = true;
        return 0;
    }
    if (strcmp (arg, "--version") == 0) {
        self->version = true;
        return 0;
    }
    int i = -1;
    bool old = false;
    const char *eq = NULL, *name = arg + 2;
    if (arg[0] == '-' && arg[1] && arg[1] != '-' && !arg[2]) {
        for (size_t k = 0; k < self->n; k++)
            if (self->table[k].letter == arg[1])
                i = (int) k;
    }
    else if (strncmp (arg, "--", 2) == 0) {
        eq = strchr (name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen (name);
        if (len == 6 && memcmp (name, "config", 6) == 0) {
            if (!eq && *a + 1 >= argc) {
                s_err (errbuf, errlen, "--config needs a value");
                return TPC_EINVAL;
            }
            self->config = eq ? eq + 1 : argv[++*a];
            return 0;
        }
        i = s_find (self, name, len, false, &old);
    }
    else {
        s_err (errbuf, errlen, "unexpected argument '%s'", arg);
        return TPC_EINVAL;
    }
    if (i < 0) {
        s_err (errbuf, errlen, "unknown option '%s'", arg);
        return TPC_EINVAL;
    }
    const tpc_opt_t *o = &self->table[i];
    if (old && msgs)
        fprintf (msgs, "%s: option --%s is deprecated, use --%s\n",
                 self->prog, o->old, o->name);
    const char *value = NULL;
    if (o->kind == TPC_OPT_FLAG && eq) {
        s_err (errbuf, errlen, "--%s takes no value", o->name);
        return TPC_EINVAL;
    }
    if (o->kind != TPC_OPT_FLAG) {
        if (!eq && *a + 1 >= argc) {
            s_err (errbuf, errlen, "--%s needs a value", o->name);
            return TPC_EINVAL;
        }
        value = eq ? eq + 1 : argv[++*a];
    }
    return s_set_text (self, (size_t) i, value, errbuf, errlen);
}

static char *
s_read_file (const char *file, char *errbuf, size_t errlen)
{
    char *text = NULL;
    FILE *f = fopen (file, "rb");
    if (!f) {
        s_err (errbuf, errlen, "cannot open config %s: %s", file,
               strerror (errno));
        goto cleanup;
    }
    text = malloc (S_CONFIG_MAX + 1);
    size_t len = text ? fread (text, 1, S_CONFIG_MAX + 1, f) : 0;
    if (!text || ferror (f) || len > S_CONFIG_MAX) {
        s_err (errbuf, errlen, "cannot read config %s%s", file,
               len > S_CONFIG_MAX ? ": over 1 MiB" : "");
        free (text);
        text = NULL;
        goto cleanup;
    }
    text[len] = '\0';
cleanup:
    if (f)
        fclose (f);
    return text;
}

static int
s_load_config (tpc_opts_t *self, const char *file, FILE *msgs, char *errbuf,
               size_t errlen)
{
    int rc = TPC_ECONFIG;
    cJSON *root = NULL;
    char *text = s_read_file (file, errbuf, errlen);
    if (!text)
        goto cleanup;
    const char *end = NULL;
    root = cJSON_ParseWithOpts (text, &end, true);
    if (!root) {
        int line = 0, col = 0;
        if (end && end >= text && end <= text + strlen (text))
            s_line_col (text, end, &line, &col);
        s_err (errbuf, errlen, "config %s:%d:%d: not valid JSON (near "
               "'%.20s'): the file must be one JSON object", file, line, col,
               end && *end ? end : "the end of the file");
        goto cleanup;
    }
    if (!cJSON_IsObject (root)) {
        s_err (errbuf, errlen, "config %s is not a JSON object", file);
        goto cleanup;
    }
    self->text = text;
    for (const cJSON *it = root->child; it; it = it->next) {
        bool old = false;
        char pos[600];
        int i = s_find (self, it->string, strlen (it->string), true, &old);
        if (i < 0) {
            s_err (errbuf, errlen, "config %s: unknown key \"%s\"",
                   s_key_pos (file, text, it->string, pos, sizeof pos),
                   it->string);
            goto cleanup;
        }
        if (old && msgs)
            fprintf (msgs, "%s: config %s: key \"%s\" is deprecated, use "
                     "\"%s\"\n", self->prog, file, it->string,
                     self->table[i].name);
        if (self->by_flag[i])
            continue;           /* a flag said it */
        int src = s_set_json (self, (size_t) i, it, file, errbuf, errlen);
        if (src) {
            rc = src;
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    self->text = NULL;
    cJSON_Delete (root);
    free (text);
    return rc;
}

int
tpc_opts_parse (tpc_opts_t *self, int argc, char **argv, FILE *msgs,
                char *errbuf, size_t errlen)
{
    for (int a = 1; a < argc; a++) {
        int rc = s_parse_arg (self, argc, argv, &a, msgs, errbuf, errlen);
        if (rc)
            return rc;
        if (self->help || self->version)
            return 0;
    }
    if (self->config)
        return s_load_config (self, self->config, msgs, errbuf, errlen);
    return 0;
}

/*  HELP's lines, the first after the flag, the others under it.          */
static void
s_print_help (FILE *out, const char *flag, const char *help)
{
    fprintf (out, "  %-26s", flag);
    if (strlen (flag) > 26)
        fprintf (out, "\n  %-26s", "");
    for (const char *p = help; *p;) {
        size_t len = strcspn (p, "\n");
        fprintf (out, " %.*s\n", (int) len, p);
        p += len;
        if (*p == '\n' && *++p)
            fprintf (out, "  %-26s", "");
    }
}

void
tpc_opts_usage (const tpc_opts_t *self, FILE *out, const char *synopsis)
{
    fprintf (out, "usage: %s\n", synopsis);
    for (size_t i = 0; i < self->n; i++) {
        const tpc_opt_t *o = &self->table[i];
        char flag[80];
        if (o->letter)
            snprintf (flag, sizeof flag, "-%c, --%s", o->letter, o->name);
        else
            snprintf (flag, sizeof flag, "--%s%s%s", o->name,
                      o->kind == TPC_OPT_FLAG ? "" : " ",
                      o->kind == TPC_OPT_FLAG ? ""
                      : o->arg ? o->arg : "V");
        s_print_help (out, flag, o->help ? o->help : "");
    }
    s_print_help (out, "--config FILE.json",
                  "any of these settings, as JSON: keys spelled like the\n"
                  "flags without \"--\"; the command line wins");
    s_print_help (out, "--version", "the program's name and version");
    s_print_help (out, "-h, --help", "this text");
}
