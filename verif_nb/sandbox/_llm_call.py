"""The reference profile's ``llm_call`` module, as rule code imports it inside a sandbox child.

VerIF's ``llm_call.py`` builds each judge prompt with string operations on the rule's own argument objects and
sends it through ``generate_chat``. So does this module: the prompts come as expression trees (read from the
user's copy of the original by :meth:`verif_nb.judge.original.OriginalPrompts.for_sandbox`, never shipped here),
rendered in the child on the real objects, so a tuple shows as ``('tone', 2)`` in the prompt and a tuple
response makes ``str.replace`` raise, as there. Only the finished request (messages, max_tokens, temperature)
crosses to the caller, as a ``generate_chat`` host call. It offers the names the original module offers that
verif-nb can offer: ``llm_judge``, ``llm_score``, ``llm_extract``, ``extract_score``, ``generate_chat``,
``extract_chat``, ``re`` and the module's string constants (``prompt_template``, ``api_url``, ``model_name``);
not its ``APIModel`` client.

Loaded by the worker from beside it (it runs with ``-I``), so it imports nothing of verif-nb.

Example:
    >>> spec = {"score": ["f", [["s", "C:"], ["v", ["n", "checkers", None], -1, None]]], "score_max_tokens": 9,
    ...         "extract": None, "extract_max_tokens": None, "judge": None, "chat": [128, 0.0], "constants": {}}
    >>> sent = []
    >>> module = original_module(spec, lambda name, args, kwargs: sent.append(args) or " [[1]] ")
    >>> module.llm_score("i", "r", ("tone", 2)), sent
    (1, [[[{'role': 'user', 'content': "C:('tone', 2)"}], 9, 0.0]])
"""

from __future__ import annotations

import collections
import re
import types

_CONVERSIONS = {-1: lambda v: v, 115: str, 114: repr, 97: ascii}


def render(tree: list, values: dict):
    """Evaluates a prompt expression tree (see ``_Expression.tree``) on ``values``, with Python's own operations.

    Example:
        >>> render(["r", ["s", "A $R$"], ["s", "$R$"], ["n", "response", None]], {"response": "ok"})
        'A ok'
        >>> render(["r", ["s", "A $R$"], ["s", "$R$"], ["n", "response", None]], {"response": ("ok",)})
        Traceback (most recent call last):
        ...
        TypeError: replace() argument 2 must be str, not tuple
    """
    kind = tree[0]
    if kind == "s":
        return tree[1]
    if kind == "f":
        return "".join([render(part, values) for part in tree[1]])
    if kind == "v":
        value = _CONVERSIONS[tree[2]](render(tree[1], values))
        return format(value, render(tree[3], values) if tree[3] is not None else "")
    if kind == "+":
        return render(tree[1], values) + render(tree[2], values)
    if kind == "r":
        return render(tree[1], values).replace(render(tree[2], values), render(tree[3], values))
    if kind == "n":
        if tree[1] in values:
            return values[tree[1]]
        if tree[2] is not None:
            return render(tree[2], values)
        raise NameError(f"name {tree[1]!r} is not defined")
    raise ValueError(f"unknown prompt expression {kind!r}")


def original_module(spec: dict, call) -> types.ModuleType:
    """The ``llm_call`` module for rule code: ``spec`` from ``OriginalPrompts.for_sandbox()``, ``call(name,
    args, kwargs)`` the host call that sends ``generate_chat``'s request to the caller.

    Example:
        >>> spec = {"score": ["s", ""], "score_max_tokens": 1, "extract": None, "extract_max_tokens": None,
        ...         "judge": None, "chat": [128, 0.0], "constants": {"prompt_template": "T $R$"}}
        >>> module = original_module(spec, None)
        >>> module.prompt_template, module.extract_score("x [[7]] [[1]]"), module.extract_score("none")
        ('T $R$', 7, 0)
    """
    module = types.ModuleType("llm_call")
    default_tokens, default_temperature = spec["chat"]

    def generate_chat(messages, max_tokens=default_tokens, temperature=default_temperature):
        return call("generate_chat", [messages, max_tokens, temperature], {})

    def extract_chat(messages, max_tokens=default_tokens, temperature=default_temperature):
        return call("generate_chat", [messages, max_tokens, temperature], {})

    def extract_score(text):
        match = re.search(r"\[\[(\d+)\]\]", text)
        try:
            return int(match.group(1))
        except Exception:  # the original's bare except: no match, or a number int() refuses
            return 0

    # Names resolve as in the original module: the call's own, then the module's (rule code may rebind
    # ``llm_call.generate_chat``, ``extract_score`` or ``prompt_template``, and the original then uses its value).
    def scope(values: dict) -> collections.ChainMap:
        return collections.ChainMap(values, vars(module))

    def llm_score(instruction, response, checkers):
        values = {"instruction": instruction, "response": response, "checkers": checkers}
        prompt = render(spec["score"], scope(values))
        reply = module.generate_chat([{"role": "user", "content": prompt}], max_tokens=spec["score_max_tokens"])
        return module.extract_score(reply)

    def llm_extract(instruction, response, specific_prompt):
        if spec["extract"] is None:
            raise NameError("the original llm_call.py defines no llm_extract")
        values = {"instruction": instruction, "response": response, "specific_prompt": specific_prompt}
        prompt = render(spec["extract"], scope(values))
        return module.extract_chat([{"role": "user", "content": prompt}], max_tokens=spec["extract_max_tokens"])

    def llm_judge(instruction, response, constraint):
        judge = spec["judge"]
        if judge is None:
            raise NameError("the original llm_call.py defines no llm_judge")
        if judge["join"] is not None and isinstance(response, list):
            response = judge["join"].join(response)
        values = {"instruction": instruction, "response": response, "constraint": constraint}
        prompt = render(judge["prompt"], scope(values))
        reply = module.generate_chat([{"role": "user", "content": prompt}], judge["max_tokens"])
        return reply[0] == judge["yes"]

    for function in (generate_chat, extract_chat, extract_score, llm_score, llm_extract, llm_judge):
        function.__module__ = "llm_call"
        # named as the original's module-level functions are, in __qualname__ and in argument errors
        function.__qualname__ = function.__name__
        if hasattr(function.__code__, "co_qualname"):  # 3.11+ (3.10 names errors by __qualname__)
            function.__code__ = function.__code__.replace(co_qualname=function.__name__)
        setattr(module, function.__name__, function)
    for name, value in spec["constants"].items():
        setattr(module, name, value)
    module.re = re
    return module
