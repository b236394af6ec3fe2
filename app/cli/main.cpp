// latentchat-cli: the engine's scriptable face. Errors are one line on stderr and exit status 1.
#include <iostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "bench_history.h"
#include "bench_resume.h"
#include "commands.h"
#include "serve.h"

namespace {

const char* kUsage = R"(latentchat-cli )" LATENTCHAT_VERSION
                     R"( - run DeepSeek-V2/V3 style models with multi-head latent attention

usage: latentchat-cli COMMAND [flags]

commands:
  info        --model DIR [--json]
              configuration, parameter count and KV cache per token (MLA, MHA, GQA, MQA)
  generate    --model DIR (--prompt TEXT | --tokens 1,2,3) [--max-tokens N] [--temperature T]
              [--top-p P] [--top-k K] [--min-p P] [--repeat-penalty R] [--seed S] [--stop TEXT]
              [--chat] [--system TEXT] [--print-ids] [--ignore-eos] [--stats] [--ctx N]
              [--db FILE [--conversation ID|new]]
              [--remote URL [--api-key K] [--remote-model NAME]]
              streams the continuation; --temperature 0 is greedy; --db records the exchange;
              --remote: the reply of an OpenAI-compatible server (vLLM, SGLang, serve) at URL
              (http://host:port or .../v1; key also from $LATENTCHAT_API_KEY, $OPENAI_API_KEY)
  chat        --model DIR [sampling flags] [--system TEXT]
              an interactive conversation that keeps the latent cache between turns
  logits      --model DIR --tokens 1,2,3 --out FILE.npy
              float32 logits of every position after one prefill, shape [n_tokens, vocab]
  perplexity  --model DIR --file TEXT_FILE [--ctx N] [--json]
              mean negative log-likelihood (nats/token) and bits per byte
  bench       --model DIR [--prompt-len N] [--gen N] [--depths 0,1024,8192] [--membench-mb N]
              prefill and decode tokens/s per depth, cache bytes, bandwidth; JSON on stdout
  bench-kernels [--depths 1024,8192,32768] [--heads 16] [--d-c 512] [--d-rope 64] [--d-nope 128]
              [--d-v 128]
              the GPU's copy/read bandwidth and the attention kernels alone per depth; JSON
  bench-resume --model DIR [--tokens N]
              reopening a long conversation from its saved latent cache vs a full re-prefill
  bench-history --db FILE [--conversations 10000] [--messages 1000000]
              fills a history database that large, then times open, list, search, open a chat
  tokenize    --model DIR (--file F | --text STRING) [--bench [--repeat N]]
              the text's token ids, comma-separated (tokenizer files alone suffice);
              --bench: encoding speed in MB/s instead (JSON)
  render      --model DIR --messages FILE.json [--no-generation-prompt]
              the prompt the model's chat template makes of a conversation (a list of
              messages, or {"messages", "tools", ...}), as transformers renders it; no weights
  history     --db FILE (list | show ID | search TEXT [--from DATE] [--to DATE] [--model ID]
              | export ID|all --format md|json [--out F] | import FILE)
              the conversations of a history database
  models      [--dir DIR] (list | pull REPO [--file F] [--revision R] | rm NAME
              | search TEXT [--all] [--limit N])
              the model library: models here and in the huggingface_hub cache; downloads from
              the Hugging Face hub (resumed, sha256-checked; HF_ENDPOINT, HF_TOKEN,
              HF_HUB_OFFLINE); MLA models on the hub by name. pull prints the path to open
  serve       --model DIR [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--ctx N]
              [--queue 16] [--max-body-kb 8192]
              an OpenAI-compatible server: /v1/chat/completions, /v1/completions (whole or
              streamed), /v1/models, /health; key also from $LATENTCHAT_API_KEY; SIGTERM stops
  serve-bench --model DIR [--prompt TEXT] [--max-tokens 128] [--repeat 10]
              time to first token and tokens/s through serve against in-process; JSON

model flags (every command that loads a model):
  --model DIR        a folder with config.json, *.safetensors and tokenizer.json or .model
                     (default: $LATENTCHAT_MODEL, then the bundled model)
  --device cpu|cuda  --threads N  --batch N (prefill chunk)  --attention absorbed|naive
)";

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
        std::cout << "latentchat-cli " << LATENTCHAT_VERSION << "\n";
        return 0;
    }
    const std::string command = args[0];
    args.erase(args.begin());
    try {
        if (command == "info") return lc::cli::cmd_info(args);
        if (command == "generate") return lc::cli::cmd_generate(args);
        if (command == "chat") return lc::cli::cmd_chat(args);
        if (command == "logits") return lc::cli::cmd_logits(args);
        if (command == "perplexity") return lc::cli::cmd_perplexity(args);
        if (command == "bench") return lc::cli::cmd_bench(args);
        if (command == "history") return lc::cli::cmd_history(args);
        if (command == "render") return lc::cli::cmd_render(args);
        if (command == "bench-resume") return lc::cli::cmd_bench_resume(args);
        if (command == "bench-kernels") return lc::cli::cmd_bench_kernels(args);
        if (command == "bench-history") return lc::cli::cmd_bench_history(args);
        if (command == "tokenize") return lc::cli::cmd_tokenize(args);
        if (command == "models") return lc::cli::cmd_models(args);
        if (command == "serve") return lc::cli::cmd_serve(args);
        if (command == "serve-bench") return lc::cli::cmd_serve_bench(args);
        std::cerr << "latentchat-cli: unknown command '" << command << "' (see --help)\n";
        return 2;
    } catch (const lc::Error& e) {
        std::cerr << "latentchat-cli: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "latentchat-cli: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "latentchat-cli: internal error: " << e.what() << "\n";
        return 3;
    }
}
