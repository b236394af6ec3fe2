// `render`: the prompt a model folder's chat template makes of a conversation, exactly as
// transformers' apply_chat_template(..., tokenize=False) returns it. Reads the template files
// only, no weights, so a folder of tokenizer files and templates suffices.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/json_parse.h"
#include "commands.h"
#include "formats/chat_template.h"
#include "formats/gguf.h"

namespace lc::cli {

int cmd_render(const std::vector<std::string>& argv) {
    Args args(argv, {"model", "messages"}, {"no-generation-prompt"});
    if (!args.positional().empty())
        throw Error("render takes no argument '" + args.positional().front() + "'");
    const auto file = args.opt("messages");
    if (!file)
        throw Error(
            "render needs --messages FILE.json (a list of messages, or an object "
            "with \"messages\" and optional \"tools\"; - reads stdin)");
    OpenOptions where;
    if (auto m = args.opt("model")) where.path = *m;
    where.source_models = LATENTCHAT_SOURCE_MODELS;
    const std::filesystem::path dir = model_path(where);
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec) && !is_gguf_path(dir))
        throw Error("--model: " + dir.string() + " is not a model folder or .gguf file");

    std::string text;
    if (*file == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(*file, std::ios::binary);
        if (!in) throw Error("--messages: cannot read " + *file);
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    ChatInput input;
    try {
        input =
            ChatInput::from_json(parse_json<nlohmann::ordered_json>(text, "--messages: " + *file));
    } catch (const nlohmann::json::exception& e) {
        throw Error("--messages: " + *file + ": " + e.what());
    } catch (const Error& e) {
        throw Error("--messages: " + *file + ": " + e.what());
    }
    input.add_generation_prompt = !args.has("no-generation-prompt");
    // Nothing is added after the prompt: the bytes are what the model would be fed.
    std::cout << ChatTemplate::load(dir).render(input) << std::flush;
    return 0;
}

}  // namespace lc::cli
