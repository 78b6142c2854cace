#!/usr/bin/env python3
"""Regenerates tests/chat/jinja_cases.inc: every case rendered by Python Jinja2 configured as
transformers configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, transformers' tojson, raise_exception, strftime_now at SOURCE_DATE_EPOCH).
Needs jinja2 (developer machines only; the .inc is committed, CI does not run this)."""
import json, datetime
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

EPOCH = 1796203800
def raise_exception(m): raise Exception(m)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def strftime_now(f): return datetime.datetime.fromtimestamp(EPOCH, datetime.timezone.utc).strftime(f)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters['tojson'] = tojson
env.globals['raise_exception'] = raise_exception
env.globals['strftime_now'] = strftime_now

M = {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
                  {"role": "assistant", "content": "yo"}, {"role": "user", "content": "ok?"}]}
D = {"d": {"b": 1, "a": [1, 2.5, None, True, "é\n\"x\""], "c": {"z": "杭州"}}}
cases = [
    # whitespace control
    ("trim_blocks", "{% if true %}\nA\n{% endif %}\nB\n", {}),
    ("lstrip_blocks", "x\n    {% if true %}\n    y\n    {% endif %}\nz", {}),
    ("minus strips", "a   {%- if true -%}   b   {%- endif -%}   c", {}),
    ("var minus", "a \n {{- 'b' -}} \n c", {}),
    ("plus keeps", "x\n    {%+ if true %}y{% endif %}", {}),
    ("comment", "a\n  {# note #}\nb{#- x -#}  c", {}),
    ("trailing newline dropped", "hello\n", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("raw", "{% raw %}{{ not }}{% if %}{% endraw %}!", {}),
    # loops
    ("loop vars", "{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}", M),
    ("previtem nextitem", "{% for x in [1,2,3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }};{% endfor %}", {}),
    ("for if", "{% for m in messages if m.role == 'user' %}{{ loop.index }}:{{ m.content }}/{{ loop.length }} {% endfor %}", M),
    ("for else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("break continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("items unpack", "{% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}", D),
    ("dict iter", "{% for k in d %}{{ k }}{% endfor %}", D),
    ("string iter", "{% for ch in 'héllo' %}[{{ ch }}]{% endfor %}", {}),
    ("nested loop cycle", "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.cycle('o','e') }}{{ loop.depth }}{% endfor %}{% endfor %}", {}),
    # scoping
    ("set in loop does not leak", "{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}", {}),
    ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("set tuple", "{% set a, b = 1, 'two' %}{{ a }}{{ b }}", {}),
    ("block set", "{% set x %}in {{ 'block' }}{% endset %}[{{ x }}]", {}),
    # macros
    ("macro defaults", "{% macro f(a, b='B', c=none) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ f(1) }} {{ f(1, 2) }} {{ f(1, c=3) }}", {}),
    ("call caller", "{% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}{% call box('x') %}inner{% endcall %}", {}),
    ("call with args", "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1,2]) %}<{{ v * 10 }}>{% endcall %}", {}),
    ("recursive macro", "{% macro r(n) %}{{ n }}{% if n > 0 %}{{ r(n - 1) }}{% endif %}{% endmacro %}{{ r(5) }}", {}),
    # precedence
    ("neg filter", "{{ -3|abs }} {{ -(3|abs) }}", {}),
    ("not is", "{{ not none is none }} {{ not 0 is false }}", {}),
    ("concat precedence", "{{ 'a' ~ 2 * 3 }} {{ 1 + 2 * 3 ** 2 }}", {}),
    ("cond expr", "{{ 'y' if 1 > 2 else 'n' }}{{ 'z' if false }}|{{ 1 if true else 2 if false else 3 }}", {}),
    ("and or values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ 1 and 0 }}", {}),
    ("in not in", "{{ 'x' in 'xyz' }} {{ 2 not in [1,3] }} {{ 'b' in {'b':1} }}", {}),
    ("comparison", "{{ 1 < 2 }} {{ 'a' < 'b' }} {{ 2 >= 2.0 }} {{ 1 == 1.0 }} {{ [1,2] == [1,2] }} {{ 'a' != 'a' }}", {}),
    # slices and subscripts
    ("reverse slice", "{% for m in messages[::-1] %}{{ m.role }} {% endfor %}", M),
    ("slices", "{{ 'héllo'[1:3] }} {{ [1,2,3,4][-2:] }} {{ [1,2,3,4][::2] }} {{ 'abc'[::-1] }} {{ [1,2,3][5:] }}", {}),
    ("subscripts", "{{ messages[0]['role'] }} {{ messages[-1].content }} {{ 'abc'[1] }} {{ d.c.z }} {{ d['a'][1] }}", dict(M, **D)),
    # tests
    ("is false", "{{ 0 is false }} {{ false is false }} {{ '' is false }} {{ true is true }} {{ 1 is true }}", {}),
    ("type tests", "{{ 'a' is string }} {{ 1 is number }} {{ true is number }} {{ 1.5 is float }} {{ 2 is integer }} {{ none is none }} {{ d is mapping }} {{ 'x' is iterable }} {{ [1] is sequence }} {{ d is sequence }} {{ 5 is string }}", D),
    ("defined", "{{ x is defined }} {{ x is undefined }} {{ d is defined }} {{ d.q is defined }} {{ none is defined }}", D),
    ("equalto etc", "{{ 3 is equalto 3 }} {{ 3 is eq(4) }} {{ 4 is divisibleby 2 }} {{ 3 is odd }} {{ 3 is even }} {{ 'ab' is lower }} {{ 1 is in [1,2] }} {{ 3 is gt 2 }}", {}),
    # filters
    ("tojson", "{{ d|tojson }}|{{ 'é'|tojson }}|{{ [1, 2.0, 1e-05, 1e16, 0.1]|tojson }}", D),
    ("tojson indent", "{{ d|tojson(indent=2) }}", D),
    ("tojson sort", "{{ d|tojson(sort_keys=true) }}", D),
    ("length", "{{ 'héllo'|length }} {{ messages|length }} {{ d|count }} {{ x|length }}", dict(M, **D)),
    ("string filters", "{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'straße'|upper }}|{{ 'HeLLo'|lower }}|{{ 'hello world'|capitalize }}|{{ 'hello wORLD-x'|title }}|{{ 'aaa'|replace('a','b',2) }}", {}),
    ("join map", "{{ messages|map(attribute='role')|join(', ') }}|{{ [1,2]|join }}|{{ ['a','b']|map('upper')|list }}", M),
    ("selectattr", "{{ messages|selectattr('role','equalto','user')|map(attribute='content')|join('+') }} {{ messages|rejectattr('role','equalto','user')|list|length }} {{ [0,1,2,'',none]|select|list }} {{ [1,2,3]|reject('odd')|list }}", M),
    ("first last default", "{{ messages|first|tojson }} {{ [1,2]|last }} {{ x|default('dflt') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ 'héllo'|first }}", M),
    ("list reverse unique sort", "{{ 'abc'|list }} {{ [1,2,3]|reverse|list }} {{ 'abc'|reverse }} {{ [3,1,2,1]|unique|list }} {{ [3,1,2]|sort }} {{ ['b','A','c']|sort }} {{ [3,1,2]|sort(reverse=true) }}", {}),
    ("numbers filters", "{{ '42'|int }} {{ 'x'|int }} {{ 3.7|int }} {{ '2.5'|float }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ -2|abs }} {{ [1,2,3]|sum }} {{ [3,1]|min }} {{ [3,1]|max }}", {}),
    ("indent", "{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}", {}),
    ("string filter", "{{ 1|string }}{{ none|string }}{{ [1]|string }}", {}),
    ("filter block", "{% filter upper %}shout {{ 'it' }}{% endfilter %}", {}),
    # methods
    ("str methods", "{{ 'hello'.startswith('he') }} {{ 'hello'.startswith(('x','h')) }} {{ 'hello'.endswith('lo') }} {{ 'a,b,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ '  a  b '.split() }} {{ 'xxhixx'.strip('x') }} {{ '  hi '.rstrip() }}|{{ ' hi'.lstrip() }} {{ 'hello world'.title() }} {{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ '-'.join(['a','b']) }} {{ 'AbC'.upper() }}{{ 'AbC'.lower() }} {{ 'a b'.replace(' ', '_') }}", {}),
    ("dict methods", "{{ d.get('b') }} {{ d.get('q', 'none') }} {{ d.get('q') }} {{ d.keys()|list }} {% for k, v in d.items() %}{{ k }}{% endfor %} {{ d.c.values()|list }}", D),
    # reprs and numbers
    ("python repr", "{{ [1, 'a', none, true, 1.5, \"it's\"] }} {{ {'a': 'b'} }} {{ (1, 2) }} {{ (1,) }}", {}),
    ("floats", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-05 }} {{ 1e16 }} {{ 1e15 }} {{ 7 / 2 }} {{ 10 / 5 }} {{ 2.5e-3 }} {{ 123456789.123 }}", {}),
    ("int ops", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1] + [2] }} {{ 'a' + 'b' }} {{ true + 1 }}", {}),
    ("undefined prints empty", "[{{ nothing }}][{{ d.missing }}][{{ none }}][{{ true }}]", D),
    ("strftime", "{{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now('%d %B %Y') }}", {}),
    ("dict literal and global dict", "{% set x = {'k': [1, {'n': none}]} %}{{ x|tojson }} {{ dict(a=1, b='x')|tojson }}", {}),
    ("string escapes", "{{ 'tab\\there\\nnl \\u00e9 \\x41 \\\\ \\' \"' }}", {}),
    ("content null", "{% for m in msgs %}{% if m.content %}{{ m.content }}{% else %}-{% endif %}{% if m.content is none %}N{% endif %}{% endfor %}", {"msgs": [{"content": None}, {"content": "c"}]}),
    ("is string on parts", "{% for m in msgs %}{% if m.content is string %}S{% else %}{% for p in m.content %}{{ p.text }}{% endfor %}{% endif %}{% endfor %}", {"msgs": [{"content": "s"}, {"content": [{"type": "text", "text": "p1"}, {"type": "text", "text": "p2"}]}]}),
    # errors
    ("raise_exception", "{{ raise_exception('Conversation roles must alternate!') }}", {}),
    ("undefined attribute error", "{{ nothing.attr }}", {}),
    ("unknown filter error", "{{ 1|nosuchfilter }}", {}),
    ("syntax error", "{% if %}", {}),
    ("unclosed block", "{% for x in y %}", {}),
    ("list append refused", "{% set l = [] %}{{ l.append(1) }}", {}),
    ("type error", "{{ 'a' + 1 }}", {}),
    ("division by zero", "{{ 1 // 0 }}", {}),
]

def c_str(s):
    out = []
    for ch in s.encode('utf-8'):
        if ch == 0x5c: out.append('\\\\')
        elif ch == 0x22: out.append('\\"')
        elif ch == 0x0a: out.append('\\n')
        elif ch == 0x0d: out.append('\\r')
        elif ch == 0x09: out.append('\\t')
        elif ch == 0x3f: out.append('\\?')
        elif 0x20 <= ch < 0x7f: out.append(chr(ch))
        else: out.append('\\%03o' % ch)
    return '"' + ''.join(out) + '"'

lines = ["/* jinja_cases.inc — generated by gen_jinja_cases.py from Python Jinja2 "
         "(transformers' environment). Do not edit. */"]
for name, src, ctx in cases:
    try:
        out = env.from_string(src).render(**ctx); err = 0
    except Exception as e:
        out = str(e); err = 1
    lines.append("{%s, %s, %s, %d, %s}," % (c_str(name), c_str(src), c_str(json.dumps(ctx, ensure_ascii=False)), err, c_str(out)))
open(__file__.replace('gen_jinja_cases.py', 'jinja_cases.inc'), 'w').write('\n'.join(lines) + '\n')
print(len(cases), "cases")
