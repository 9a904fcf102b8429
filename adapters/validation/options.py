"""The reference validator's switches that change a verdict, with its defaults.

The HL7 Java validator runs with these off unless told (``-security-checks``,
``-no-html-in-markdown`` (noHtmlInMarkdown), ``-allow-example-urls false``, validateContains
IGNORE); fhir-test-cases runs some cases with them on, so the conformance test runs those cases
the same way. The defaults are the reference validator's. The national submission tier turns on
what a national record must not hold (``adapters.national.sandbox``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    # HTML-like tags in a string value are an error (otherwise information): whoever shows the
    # record must not be handed markup to render (the Java validator's "security checks").
    security_checks: bool = False
    # HTML tags inside markdown are an error (otherwise a warning; markdown may carry them).
    html_in_markdown: bool = True
    # URLs on example.org / example.com / acme.com are allowed (as in the specification's examples).
    example_urls: bool = True
    # Contained resources are validated (False: the Java validator's validateContains=IGNORE).
    contained: bool = True


DEFAULT = ValidationOptions()
# Real data entering the national record: no markup in strings, no example URLs.
NATIONAL_SUBMISSION = ValidationOptions(security_checks=True, example_urls=False)

# An HTML start or end tag: "<", an optional "/", a letter, then anything but another "<" up to ">".
HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# The hosts reserved for examples (RFC 2606 and the FHIR specification's own acme.com).
EXAMPLE_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^/?#@]*@)?(?:[^/?#:]*\.)?(?:example\.(?:org|com|net)|acme\.com)(?:[:/?#]|$)",
                          re.IGNORECASE)
