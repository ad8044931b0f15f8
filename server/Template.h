// A template: the JSON body of WeChat's template/send call with ${OPENID} and ${name}
// placeholders, parsed once into literal runs and holes so rendering is a linear copy.
// Values are JSON-escaped (the original substituted raw text and could emit broken JSON).
// Immutable once parsed: shared between the loop and the sender threads by shared_ptr.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/Status.h"

namespace mega {

class Template {
public:
    // Fails (Invalid) if `text` is not a JSON object.
    static Status Parse(std::string key, std::string text, std::shared_ptr<const Template>* out);

    const std::string& key() const { return key_; }
    const std::string& text() const { return text_; }

    // Appends the rendered body to `out`. `data_json` is the frame body: a JSON object whose
    // members fill ${name} (strings as text, numbers/bools as their JSON text), or `null` /
    // empty. A placeholder with no value renders as the empty string. When `client_msg_id`
    // is not empty it is added as a top-level member. Fails (Invalid) on a body that is not
    // an object/null, or if the result is not valid JSON.
    Status Render(std::string_view openid, std::string_view data_json,
                  std::string_view client_msg_id, std::string* out) const;

private:
    struct Piece {
        std::string_view literal;  // text before the hole (view into text_)
        std::string name;          // placeholder name; empty for the final literal
        bool in_string = true;     // hole sits inside a JSON string literal
    };
    std::string key_, text_;
    std::vector<Piece> pieces_;
};

}  // namespace mega
