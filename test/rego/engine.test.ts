import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepare, RegoError, type QueryOptions } from '../../src/rego/index.ts';

/** The value of `data.test.p` for a v1 module (undefined when undefined). */
function p(module: string, opts: QueryOptions = {}): unknown {
  return prepare([{ file: 'test.rego', source: `package test\n${module}` }], { v1: true }).evaluate(['test', 'p'], opts);
}
function v0(module: string, opts: QueryOptions = {}): unknown {
  return prepare([{ file: 'test.rego', source: `package test\n${module}` }]).evaluate(['test', 'p'], opts);
}
function rejects(fn: () => unknown, code: string, pattern?: RegExp): RegoError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RegoError, `not a RegoError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('rego: syntax', () => {
  it('v0 rules as policy-controller writes them: default, bodies without if, partial sets with brackets', () => {
    const src = 'default p = false\np { input.a == 1 }\n';
    assert.equal(v0(src, { input: { a: 1 } }), true);
    assert.equal(v0(src, { input: { a: 2 } }), false);
    assert.deepEqual(v0('p[x] { x := input.xs[_]; x > 1 }', { input: { xs: [1, 2, 3] } }), [2, 3]);
    assert.deepEqual(v0('p[k] = v { v := input.m[k] }', { input: { m: { a: 1 } } }), { a: 1 });
  });

  it('v1 keywords: if, contains, some … in, every; import rego.v1 turns them on in v0', () => {
    assert.deepEqual(p('p contains x if { some x in [3, 1, 2]; x != 2 }'), [1, 3]);
    assert.equal(p('p if every x in [1, 2] { x > 0 }'), true);
    assert.equal(p('p if every x in [1, -2] { x > 0 }'), undefined);
    assert.equal(v0('import rego.v1\np if { some k, v in {"a": 1}; k == "a"; v == 1 }'), true);
    assert.equal(v0('import future.keywords.in\np { 2 in [1, 2] }'), true);
  });

  it('v1 refuses v0 rule bodies, naming line and column', () => {
    const err = rejects(() => p('q { true }'), 'rego_parse_error', /`if` keyword is required/);
    assert.deepEqual([err.location?.line, err.location?.col], [2, 1]);
  });

  it('parse errors carry the line and column of the offending token', () => {
    const err = rejects(() => prepare('package sigstore\n\nisCompliant {\n  input.x ==\n}\n'), 'rego_parse_error');
    assert.equal(err.location?.line, 5);
    assert.equal(err.location?.col, 1);
    rejects(() => prepare('package x\np { "unterminated }\n'), 'rego_parse_error', /non-terminated string/);
    rejects(() => prepare('p := 1'), 'rego_parse_error', /package expected/);
  });

  it('else chains, functions with several bodies, comprehensions of every kind', () => {
    assert.deepEqual(p('f(x) := "big" if x > 10\nelse := "small"\np := [f(11), f(1)]'), ['big', 'small']);
    assert.deepEqual(p('p := {"a": [x | x := [1, 2][_]], "s": {x | x := [1, 1][_]}, "o": {k: v | some k, v in {"z": 1}}}'), { a: [1, 2], s: [1], o: { z: 1 } });
  });

  it('unification binds through arrays and objects; := and == differ from =', () => {
    assert.deepEqual(p('p := [a, b] if [a, {"k": b}] = [1, {"k": 2}]'), [1, 2]);
    assert.equal(p('p if { x := 1; x == 1 }'), true);
    assert.equal(p('p if { [x, 2] = [1, y]; x + y == 3 }'), true);
  });

  it('not, with (input, data, functions), sets/objects/arrays operators', () => {
    assert.equal(p('p if not input.deny', { input: {} }), true);
    assert.equal(p('q if input.x == 1\np if q with input.x as 1'), true);
    assert.equal(p('q := data.cfg.n\np := x if x := q with data.cfg.n as 5'), 5);
    assert.equal(p('p := x if x := count([1]) with count as 7'), 7);
    assert.deepEqual(p('p := [({1, 2} | {3}), {1, 2} & {2}, {1, 2} - {1}]'), [[1, 2, 3], [2], [2]]);
  });

  it('conflicting values of a complete rule are an error, not a choice', () => {
    rejects(() => p('p := 1\np := 2'), 'eval_conflict_error', /complete rules must not produce multiple outputs/);
    rejects(() => p('f(_) := 1\nf(_) := 2\np := f(0)'), 'eval_conflict_error', /functions must not produce multiple outputs/);
  });
});

describe('rego: built-ins policy-controller policies use', () => {
  const cases: [string, unknown][] = [
    ['count("héllo")', 5],
    ['sprintf("%s has %d, %v", ["img", 3, [1, "a"]])', 'img has 3, [1, "a"]'],
    ['concat(",", ["a", "b"])', 'a,b'],
    ['[startswith("abc", "ab"), endswith("abc", "bc"), contains("abc", "b")]', [true, true, true]],
    ['split("a/b", "/")', ['a', 'b']],
    ['trim_prefix("sha256:ab", "sha256:")', 'ab'],
    ['regex.match(`^ghcr\\.io/acme/`, "ghcr.io/acme/app")', true],
    ['regex.match("(?i)^ACME", "acme")', true],
    ['glob.match("ghcr.io/*/app", ["/"], "ghcr.io/acme/app")', true],
    ['glob.match("ghcr.io/*", ["/"], "ghcr.io/acme/app")', false],
    ['time.parse_rfc3339_ns("2024-03-01T10:00:00.5Z")', 1709287200500000000],
    ['time.parse_duration_ns("1h30m")', 5400000000000],
    ['json.unmarshal(`{"a": [1]}`).a[0]', 1],
    ['json.marshal({"b": 1, "a": {2}})', '{"a":[2],"b":1}'],
    ['base64.decode(base64.encode("x:y"))', 'x:y'],
    ['units.parse_bytes("2Ki")', 2048],
    ['semver.compare("1.2.3", "1.10.0")', -1],
    ['object.get({"a": {"b": 1}}, ["a", "b"], 0)', 1],
    ['crypto.sha256("abc")', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['[max([1, 3]), min({2, 4}), sum([1, 2]), sort([3, 1])]', [3, 2, 3, [1, 3]]],
    ['numbers.range(1, 3)', [1, 2, 3]],
    ['[x | walk({"a": [1]}, [path, x]); is_number(x)]', [1]],
  ];
  for (const [expr, want] of cases) {
    it(expr, () => assert.deepEqual(p(`p := ${expr}`), want));
  }

  it('type errors make the expression undefined, or stop evaluation in strict mode', () => {
    assert.equal(p('p := count(input.n)', { input: { n: 1 } }), undefined);
    rejects(() => p('p := count(input.n)', { input: { n: 1 }, strictBuiltinErrors: true }), 'eval_type_error', /count: operand 1 must be one of/);
  });

  it('time.now_ns reads the clock it is given, and without one fails closed', () => {
    assert.equal(p('p := time.now_ns()', { now: 1_700_000_000_123 }), 1_700_000_000_123_000_000);
    rejects(() => p('p := time.now_ns()'), 'eval_builtin_error', /no clock was given/);
  });
});

describe('rego: refused and bounded', () => {
  for (const name of ['http.send', 'net.lookup_ip_addr', 'opa.runtime', 'rand.intn', 'uuid.rfc4122']) {
    it(`${name} is refused when the policy is parsed`, () => {
      const args = name === 'opa.runtime' ? '' : name === 'rand.intn' ? '"x", 10' : '{}';
      const err = rejects(() => prepare(`package x\n\np := ${name}(${args})\n`), 'rego_parse_error', new RegExp(`${name.replace('.', '\\.')} is not allowed`));
      assert.equal(err.location?.line, 3);
    });
  }

  it('a body that never ends stops at the step limit with a clear error', () => {
    const started = performance.now();
    rejects(
      () =>
        p('r := numbers.range(1, 100)\np := count([x | some a in r; some b in r; some c in r; some d in r; x := [a, b, c, d]])', {
          limits: { maxSteps: 100_000 },
        }),
      'eval_limit_error',
      /stopped after 100000 steps/,
    );
    assert.ok(performance.now() - started < 5000);
  });

  it('deep recursion through functions stops at the depth limit', () => {
    rejects(() => p('f(n) := f(n + 1)\np := f(0)'), 'eval_limit_error', /nest more than 200 deep/);
  });

  it('a recursive rule is reported as such', () => {
    rejects(() => p('p if q\nq if p'), 'rego_recursion_error');
  });

  it('deterministic: the same policy and input give the same answer every time', () => {
    const src = 'p := [k | some k, _ in input]';
    const input = { b: 1, a: 2, c: 3 };
    assert.deepEqual(p(src, { input }), ['a', 'b', 'c']);
    assert.deepEqual(p(src, { input }), p(src, { input }));
  });
});

describe('rego: body order', () => {
  it('a literal using a variable bound later runs after the literal that binds it, as OPA orders bodies', () => {
    assert.equal(p('p if { x > 1; x := 2 }'), true);
    assert.deepEqual(p('p contains z if { z > 1; some z in [1, 2, 3] }'), [2, 3]);
    assert.equal(p('q contains 2\np if { not q[x]; x := 1 }'), true);
  });

  it('a variable nothing binds is unsafe', () => {
    rejects(() => p('p if { y > 1 }'), 'rego_unsafe_var_error', /var y is unsafe/);
  });
});

describe('rego: hostile input', () => {
  it('a policy nested thousands deep is a parse error, not a crash', () => {
    rejects(() => prepare(`package x\np := ${'['.repeat(20000)}${']'.repeat(20000)}\n`), 'rego_parse_error', /nests too deeply/);
  });

  it('globs and regexps run in linear time (RE2): no catastrophic backtracking', () => {
    const started = performance.now();
    const v = p(
      `p := [glob.match("${'*a'.repeat(12)}*b", [], x), regex.match("(a+)+b", x)] if x := concat("", [s | some _ in numbers.range(1, 5000); s := "a"])`,
    );
    assert.deepEqual(v, [false, false]);
    assert.ok(performance.now() - started < 3000, `took ${performance.now() - started} ms`);
  });

  it('a huge comprehension is cut by the step limit', () => {
    rejects(() => p('p := count([x | some x in numbers.range(1, 1000000)])', { limits: { maxSteps: 50_000 } }), 'eval_limit_error');
  });
});
