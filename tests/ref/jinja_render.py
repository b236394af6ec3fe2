#!/usr/bin/env python3
"""The reference for LatentChat's chat templates: renders a model folder's chat template the way
transformers' tokenizer.apply_chat_template(messages, tools=..., add_generation_prompt=...,
tokenize=False) does, with jinja2 alone (transformers is not needed):

  - the template: chat_template.jinja beside tokenizer_config.json, else its "chat_template"
    (a string, or a list of {"name", "template"}: "tool_use" when tools are given and it has
    one, else "default");
  - jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
    loopcontrols extension and a {% generation %} tag, transformers' tojson filter
    (json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False), no HTML
    escaping) and its globals raise_exception() and strftime_now();
  - the variables: messages, tools (None when not given), documents=None,
    add_generation_prompt, then the special tokens of tokenizer_config.json (bos_token,
    eos_token, ... as strings, additional_special_tokens as a list; empty ones left out), then
    any other keys of the input object.

usage:
  jinja_render.py MODEL_DIR INPUT.json [--no-generation-prompt]
      prints the rendered text (UTF-8, nothing added); exit 1 and the error on stderr when the
      template fails
  jinja_render.py --batch CASES.json
      CASES is a list of {"model": DIR, "input": ..., "add_generation_prompt": bool}; prints a
      JSON list with {"text": ...} or {"error": ...} per case

INPUT is a list of messages, or an object with "messages", optional "tools" and any other
template variables (thinking, enable_thinking, ...), as `latentchat-cli render --messages` reads.
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                  "mask_token")


class Generation(jinja2.ext.Extension):
    """transformers' {% generation %} tag: for rendering, its body as it is."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render", [])
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(value):
    return value.get("content") if isinstance(value, dict) else value


def load(model_dir, has_tools):
    config = {}
    config_path = os.path.join(model_dir, "tokenizer_config.json")
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    jinja_path = os.path.join(model_dir, "chat_template.jinja")
    if os.path.exists(jinja_path):
        with open(jinja_path, encoding="utf-8") as f:
            template = f.read()
    else:
        template = config.get("chat_template")
        if isinstance(template, list):
            named = {t["name"]: t["template"] for t in template}
            if has_tools and "tool_use" in named:
                template = named["tool_use"]
            elif "default" in named:
                template = named["default"]
            else:
                raise ValueError("chat_template lists no default template")
        if not isinstance(template, str):
            raise ValueError(f"{model_dir} has no chat template")
    tokens = {}
    for key in SPECIAL_TOKENS:
        value = token_text(config.get(key))
        if value:
            tokens[key] = value
    extra = [token_text(t) for t in config.get("additional_special_tokens") or []]
    if extra:
        tokens["additional_special_tokens"] = extra
    return template, tokens


def render(model_dir, data, add_generation_prompt):
    if isinstance(data, list):
        data = {"messages": data}
    data = dict(data)
    messages = data.pop("messages")
    tools = data.pop("tools", None)
    template, tokens = load(model_dir, tools is not None)
    compiled = environment().from_string(template)
    return compiled.render(messages=messages, tools=tools, documents=None,
                           add_generation_prompt=add_generation_prompt, **{**tokens, **data})


def main(argv):
    if len(argv) == 3 and argv[1] == "--batch":
        with open(argv[2], encoding="utf-8") as f:
            cases = json.load(f)
        results = []
        for case in cases:
            try:
                text = render(case["model"], case["input"], case["add_generation_prompt"])
                results.append({"text": text})
            except Exception as e:  # the error is the result
                results.append({"error": f"{type(e).__name__}: {e}"})
        sys.stdout.write(json.dumps(results))
        return 0
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] != "--no-generation-prompt"):
        sys.stderr.write(__doc__)
        return 2
    with open(argv[2], encoding="utf-8") as f:
        data = json.load(f)
    try:
        text = render(argv[1], data, len(argv) == 3)
    except Exception as e:
        sys.stderr.write(f"{type(e).__name__}: {e}\n")
        return 1
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
