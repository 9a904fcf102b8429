"""Parsing the FHIRPath subset that search parameter expressions use, into a small tuple tree.

https://hl7.org/fhirpath/N1/#grammar — precedence and literals as there. The tree nodes:
``("ident", name)``, ``("member", base, name)``, ``("call", base | None, name, args)``,
``("index", base, expr)``, ``("lit", value, fhir_type)``, ``("var", name)``,
``("bin", op, left, right)``, ``("type", "is" | "as", left, fhir_type)``, and
``("typename", fhir_type)`` for the argument of ``ofType()``/``as()``/``is()``.
Constructs outside the subset (date literals, arithmetic, ``in``, comparisons other than ``=``
and ``!=``) raise :class:`Unsupported` here, so the caller can fall back to fhirpathpy.
"""
from __future__ import annotations

import re

from ehr_core.search.elements import is_known_type


class Unsupported(ValueError):
    """The expression uses FHIRPath this evaluator does not implement."""


def parse(expression: str) -> tuple:
    return Parser(expression).parse()


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_]\w*|`[^`]+`)
  | (?P<var>[$%][A-Za-z_]\w*)
  | (?P<op>!=|!~|<=|>=|[.()\[\],|=<>~+\-*/&])
)""", re.X)
_ESCAPES = {"'": "'", '"': '"', "`": "`", "\\": "\\", "/": "/", "n": "\n", "r": "\r", "t": "\t", "f": "\f"}

# Binary operators by increasing precedence (FHIRPath N1 §"Operator precedence"); ``is``/``as``
# take a type specifier and are handled apart.
_LEVELS = (("implies",), ("or", "xor"), ("and",), ("in", "contains"), ("=", "~", "!=", "!~"),
           ("<", ">", "<=", ">="), ("|",))
_TYPE_LEVEL = ("is", "as")
_IMPLEMENTED_BINARY = frozenset({"implies", "or", "xor", "and", "=", "!=", "|"})
_ARITHMETIC = frozenset({"+", "-", "&", "*", "/", "div", "mod"})


class Parser:
    """Recursive descent over the tokens into the tuple tree described above."""

    def __init__(self, text: str):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip():
                    raise Unsupported(f"cannot read {text[pos:]!r}")
                break
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def parse(self) -> tuple:
        node = self._binary(0)
        if self.i != len(self.tokens):
            raise Unsupported(f"unexpected {self.tokens[self.i][1]!r}")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise Unsupported("unexpected end of expression")
        self.i += 1
        return tok

    def _expect(self, value: str) -> None:
        if self._next()[1] != value:
            raise Unsupported(f"expected {value!r}")

    def _binary(self, level: int) -> tuple:
        if level == len(_LEVELS):
            return self._type_expr()
        node = self._binary(level + 1)
        while (tok := self._peek()) and tok[0] in ("op", "ident") and tok[1] in _LEVELS[level]:
            self.i += 1
            if tok[1] not in _IMPLEMENTED_BINARY:
                raise Unsupported(f"operator {tok[1]!r}")
            node = ("bin", tok[1], node, self._binary(level + 1))
        return node

    def _type_expr(self) -> tuple:
        node = self._postfix()
        while (tok := self._peek()) and tok[0] == "ident" and tok[1] in _TYPE_LEVEL:
            self.i += 1
            node = ("type", tok[1], node, self._type_specifier())
        if (tok := self._peek()) and tok[1] in _ARITHMETIC:
            raise Unsupported(f"operator {tok[1]!r}")
        return node

    def _type_specifier(self) -> str:
        kind, name = self._next()
        if kind != "ident":
            raise Unsupported("expected a type name")
        if name in ("FHIR", "System") and (tok := self._peek()) and tok[1] == ".":
            self.i += 1
            name = f"{name}.{self._next()[1]}"
        return fhir_type_name(name)

    def _postfix(self) -> tuple:
        node = self._term()
        while (tok := self._peek()) and tok[1] in (".", "["):
            self.i += 1
            if tok[1] == "[":
                node = ("index", node, self._binary(0))
                self._expect("]")
            else:
                kind, name = self._next()
                if kind != "ident":
                    raise Unsupported("expected a name after '.'")
                node = self._invocation(node, name.strip("`"))
        return node

    def _invocation(self, base: tuple | None, name: str) -> tuple:
        if (tok := self._peek()) and tok[1] == "(":
            self.i += 1
            args: list[tuple] = []
            if self._peek() and self._peek()[1] != ")":
                if name in _TYPE_FUNCTIONS:
                    args.append(("typename", self._type_specifier()))
                else:
                    args.append(self._binary(0))
                while self._peek() and self._peek()[1] == ",":
                    self.i += 1
                    args.append(self._binary(0))
            self._expect(")")
            return ("call", base, name, args)
        return ("ident", name) if base is None else ("member", base, name)

    def _term(self) -> tuple:
        kind, value = self._next()
        if kind == "string":
            return ("lit", re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), value[1:-1]), "string")
        if kind == "number":
            return ("lit", float(value), "decimal") if "." in value else ("lit", int(value), "integer")
        if kind == "var":
            return ("var", value)
        if kind == "ident":
            if value in ("true", "false"):
                return ("lit", value == "true", "boolean")
            return self._invocation(None, value.strip("`"))
        if value == "(":
            node = self._binary(0)
            self._expect(")")
            return node
        raise Unsupported(f"unexpected {value!r}")


# FHIRPath system types (http://hl7.org/fhirpath/N1/#types) and the FHIR primitive they stand for.
_SYSTEM_TYPES = {"String": "string", "Boolean": "boolean", "Integer": "integer", "Decimal": "decimal",
                 "Date": "date", "DateTime": "dateTime", "Time": "time", "Quantity": "Quantity"}
_TYPE_FUNCTIONS = frozenset({"ofType", "as", "is"})


def fhir_type_name(name: str) -> str:
    """``FHIR.Quantity`` -> ``Quantity``; ``System.DateTime``/``DateTime`` -> ``dateTime``."""
    namespace, _, local = name.rpartition(".")
    if namespace not in ("", "FHIR", "System"):
        raise Unsupported(f"type {name!r}")
    if namespace != "System" and is_known_type(local):
        return local
    if local in _SYSTEM_TYPES:
        return _SYSTEM_TYPES[local]
    raise Unsupported(f"unknown type {name!r}")
