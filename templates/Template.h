// A template: the JSON body of WeChat's template/send call with ${OPENID} and ${name}
// placeholders, parsed once into literal runs and holes so rendering is a linear copy.
// Values are JSON-escaped (the original substituted raw text and could emit broken JSON).
// Immutable once parsed: shared between the loop and the sender threads by shared_ptr.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"

namespace mega {

class Template {
  public:
    // Reusable parse state for Render (the JSON reader's stack, decoded values). Keeps its
    // memory between calls; one per thread that renders (not thread-safe itself).
    class Scratch {
      public:
        Scratch();
        ~Scratch();
        Scratch(const Scratch&) = delete;
        Scratch& operator=(const Scratch&) = delete;

      private:
        friend class Template;
        struct State;
        std::unique_ptr<State> state_;
    };

    // Fails (Invalid) if `text` is not a JSON object. `account` and `kind` say which account
    // sends it and how (the template table's columns; config/Accounts.h).
    static Status Parse(std::string key, std::string text, std::shared_ptr<const Template>* out,
                        std::string account = "default", std::string kind = "template");

    const std::string& key() const { return key_; }
    const std::string& text() const { return text_; }
    const std::string& account() const { return account_; }
    const std::string& kind() const { return kind_; }
    // The top-level "template_id" when the text gives it literally (no ${…}), else "".
    const std::string& template_id() const { return template_id_; }

    // Appends the rendered body to `out`. `data_json` is the frame body: a JSON object whose
    // members fill ${name} (strings as text, numbers/bools as their JSON text), or `null` /
    // empty. A placeholder with no value renders as the empty string. When `client_msg_id`
    // is not empty it is added as a top-level member. Fails (Invalid) on a body that is not
    // an object/null, or if the result is not valid JSON.
    Status Render(std::string_view openid, std::string_view data_json,
                  std::string_view client_msg_id, std::string* out) const;
    // The same, reusing `scratch`: no allocation in the steady state.
    Status Render(std::string_view openid, std::string_view data_json,
                  std::string_view client_msg_id, std::string* out, Scratch* scratch) const;

    // Invalid naming the first ${name} the template uses that `data_json` (the push's data
    // object) has no member for ([setting] missing_var = reject).
    Status CheckAllValues(std::string_view data_json) const;

  private:
    struct Piece {
        size_t literal_begin = 0, literal_size = 0;  // text before the hole (range of text_)
        std::string name;       // placeholder name; empty for the final literal
        uint32_t slot = 0;      // index into names_, or kOpenidSlot
        bool in_string = true;  // hole sits inside a JSON string literal
    };
    std::string key_, text_, account_, kind_, template_id_;
    std::vector<Piece> pieces_;
    std::vector<std::string> names_;  // distinct ${name}s other than OPENID
    size_t brace_end_ = 0;            // offset just past the top-level '{'
    bool object_empty_ = false;       // the template is `{}`
    bool has_client_msg_id_ = false;  // the template sets client_msg_id itself
};

}  // namespace mega
