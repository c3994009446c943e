/* test_chat.c — chat prompts against transformers' rendering of the real models' templates
 * (tests/data/chat, by tools/gen_chat_goldens.py), and unknown templates. */
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

static void check_model(const char *name) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s.template", test_data_path("chat"), name);
    char *tpl = NULL;
    REQUIRE_OK(jang_read_file(p, 1 << 20, &tpl, NULL));
    snprintf(p, sizeof p, "%s/%s.json", test_data_path("chat"), name);
    json_error_t err;
    json_t *g = json_load_file(p, 0, &err);
    REQUIRE(g);
    jang_chat_format f;
    CHECK_OK(jang_chat_detect(tpl, &f));
    CHECK_EQ_INT(f.kind, JANG_CHAT_CHATML);
    const char *user = json_string_value(json_object_get(g, "user"));
    const char *sys = json_string_value(json_object_get(g, "system"));
    char *out = NULL;
    CHECK_OK(jang_chat_apply(&f, NULL, user, &out));
    CHECK_STR(out, json_string_value(json_object_get(g, "plain")));
    free(out);
    CHECK_OK(jang_chat_apply(&f, sys, user, &out));
    CHECK_STR(out, json_string_value(json_object_get(g, "with_system")));
    free(out);
    json_decref(g);
    free(tpl);
}

TEST(chat_smollm2_matches_transformers) { check_model("smollm2"); }
TEST(chat_qwen25_matches_transformers) { check_model("qwen2.5"); }

TEST(chat_unknown_template) {
    jang_chat_format f;
    CHECK(jang_chat_detect("{{ messages[0]['content'] }}", &f) == JANG_E_UNSUPPORTED);
    CHECK(strstr(jang_last_error(), "--raw") != NULL);
    CHECK(jang_chat_detect(NULL, &f) == JANG_E_NOTFOUND);
    CHECK_OK(jang_chat_detect("{{ '<|start_header_id|>' }}", &f));
    CHECK_EQ_INT(f.kind, JANG_CHAT_LLAMA3);
}
