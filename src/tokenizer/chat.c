/* chat.c — prompt formats recognised from a model's chat template (see jang.h: jang_chat_*).
 * We do not run Jinja: each supported family is recognised by its markers and produced directly;
 * tests/test_chat.c checks the output against the real templates of the models we run, as
 * rendered by transformers (goldens). */
#include "util.h"

#include <string.h>

static const char *const chat_names[] = {
#define JANG_X_(e, s) s,
    JANG_CHAT_MAP(JANG_X_)
#undef JANG_X_
};

const char *jang_chat_kind_name(jang_chat_kind k) {
    return (unsigned)k < sizeof chat_names / sizeof chat_names[0] ? chat_names[k] : "?";
}

/* ChatML templates write their default system prompt as a literal:
 * '<|im_start|>system\n<text><|im_end|>' (with a real newline or a Jinja "\n" escape). The first
 * such literal whose text holds no Jinja syntax is the default. */
static void chatml_default_system(const char *tpl, char *out, size_t cap) {
    out[0] = '\0';
    const char *tag = "<|im_start|>system";
    for (const char *p = strstr(tpl, tag); p; p = strstr(p + 1, tag)) {
        const char *q = p + strlen(tag);
        if (*q == '\n')
            q++;
        else if (q[0] == '\\' && q[1] == 'n')
            q += 2;
        else
            continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end || end == q) continue;
        size_t n = (size_t)(end - q);
        if (memchr(q, '\'', n) || memchr(q, '"', n) || memchr(q, '{', n) || memchr(q, '+', n))
            continue;
        if (n >= cap) n = cap - 1;
        memcpy(out, q, n);
        out[n] = '\0';
        return;
    }
}

jang_status jang_chat_detect(const char *tpl, jang_chat_format *out) {
    memset(out, 0, sizeof *out);
    if (!tpl) return jang_fail(JANG_E_NOTFOUND, "the model has no chat template (use --raw)");
    if (strstr(tpl, "<|im_start|>")) {
        out->kind = JANG_CHAT_CHATML;
        chatml_default_system(tpl, out->default_system, sizeof out->default_system);
    } else if (strstr(tpl, "<|start_header_id|>")) {
        out->kind = JANG_CHAT_LLAMA3;
    } else if (strstr(tpl, "<start_of_turn>")) {
        out->kind = JANG_CHAT_GEMMA;
    } else if (strstr(tpl, "[INST]")) {
        out->kind = JANG_CHAT_LLAMA2;
    } else {
        char buf[64];
        return jang_fail(JANG_E_UNSUPPORTED, "unknown chat template starting \"%s\" (use --raw)",
                         jang_printable(tpl, strlen(tpl) < 40 ? strlen(tpl) : 40, buf, sizeof buf));
    }
    return JANG_OK;
}

jang_status jang_chat_apply(const jang_chat_format *f, const char *system, const char *user,
                            char **out) {
    *out = NULL;
    if (!user) return jang_fail(JANG_E_ARG, "chat: no user message");
    if (!system && f->default_system[0]) system = f->default_system;
    size_t cap = strlen(user) + (system ? strlen(system) : 0) + 256;
    char *s = jang_malloc(cap, "chat prompt");
    if (!s) return JANG_E_NOMEM;
    switch (f->kind) {
    case JANG_CHAT_CHATML:
        if (system)
            snprintf(s, cap,
                     "<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n"
                     "<|im_start|>assistant\n",
                     system, user);
        else
            snprintf(s, cap, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
        break;
    case JANG_CHAT_LLAMA3:
        if (system)
            snprintf(s, cap,
                     "<|start_header_id|>system<|end_header_id|>\n\n%s<|eot_id|>"
                     "<|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n",
                     system, user);
        else
            snprintf(s, cap,
                     "<|start_header_id|>user<|end_header_id|>\n\n%s<|eot_id|>"
                     "<|start_header_id|>assistant<|end_header_id|>\n\n",
                     user);
        break;
    case JANG_CHAT_LLAMA2:
        if (system)
            snprintf(s, cap, "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]", system, user);
        else
            snprintf(s, cap, "[INST] %s [/INST]", user);
        break;
    case JANG_CHAT_GEMMA:
        /* Gemma folds a system message into the first user turn */
        if (system)
            snprintf(s, cap, "<start_of_turn>user\n%s\n\n%s<end_of_turn>\n<start_of_turn>model\n",
                     system, user);
        else
            snprintf(s, cap, "<start_of_turn>user\n%s<end_of_turn>\n<start_of_turn>model\n", user);
        break;
    }
    *out = s;
    return JANG_OK;
}
