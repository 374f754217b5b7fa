/**
 * A small CloudFormation reader for tests: parses a YAML template, turning the
 * short-form intrinsic tags (`!Ref X`, `!Sub ...`, `!GetAtt A.B`, `!If [...]`)
 * into the long form CloudFormation itself sees (`{ Ref: 'X' }`,
 * `{ 'Fn::Sub': ... }`, `{ 'Fn::GetAtt': ['A', 'B'] }`), so tests assert on
 * plain JSON. It also has a cheap linter (every Ref, GetAtt, Sub variable and
 * condition name must exist) and an evaluator for Conditions, so a test can
 * look at the template as deployed with a given set of parameter values.
 *
 * It is not cfn-lint: it knows nothing of resource schemas. It exists so a
 * template broken by a typo fails `npm test` without an AWS account.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, Pair, Scalar, YAMLMap, YAMLSeq, type Tags } from 'yaml';

export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

export interface Resource extends JsonObject {
  Type: string;
}

export interface Template extends JsonObject {
  Parameters: Record<string, JsonObject>;
  Conditions: Record<string, Json>;
  Resources: Record<string, Resource>;
  Outputs: Record<string, JsonObject>;
}

// Functions that take their arguments as written after the tag, whatever the
// node kind. `!Ref`, `!Condition` and `!GetAtt` are special-cased below.
const FUNCTIONS = [
  'And',
  'Base64',
  'Cidr',
  'Equals',
  'FindInMap',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Length',
  'Not',
  'Or',
  'Select',
  'Split',
  'Sub',
  'ToJsonString',
  'Transform',
] as const;

/** A mapping node `{ key: value }`, so aliases and nested tags inside `value` still resolve when the document becomes JS. */
function wrap(key: string, value: unknown): YAMLMap {
  const map = new YAMLMap();
  map.items.push(new Pair(new Scalar(key), value));
  return map;
}

function shortFormTags(): Tags {
  const tags: Tags = [
    // Ref and Condition name one thing: a scalar, never a collection.
    { tag: '!Ref', resolve: (name: string) => ({ Ref: name }) },
    { tag: '!Condition', resolve: (name: string) => ({ Condition: name }) },
    // `!GetAtt Res.Attr` splits at the first dot only: attribute names may hold dots (Endpoint.Address).
    {
      tag: '!GetAtt',
      resolve: (value: string, onError: (msg: string) => void) => {
        const dot = value.indexOf('.');
        if (dot <= 0 || dot === value.length - 1) onError(`!GetAtt ${value}: expected LogicalId.Attribute`);
        return { 'Fn::GetAtt': [value.slice(0, dot), value.slice(dot + 1)] };
      },
    },
    { tag: '!GetAtt', collection: 'seq', resolve: (seq: YAMLMap | YAMLSeq) => wrap('Fn::GetAtt', seq) },
  ];
  for (const fn of FUNCTIONS) {
    const key = `Fn::${fn}`;
    tags.push(
      { tag: `!${fn}`, resolve: (value: string) => ({ [key]: value }) },
      { tag: `!${fn}`, collection: 'seq', resolve: (seq: YAMLMap | YAMLSeq) => wrap(key, seq) },
      { tag: `!${fn}`, collection: 'map', resolve: (map: YAMLMap | YAMLSeq) => wrap(key, map) },
    );
  }
  return tags;
}

/** Parses CloudFormation YAML. Throws on YAML errors and on any tag it does not know (a typo such as `!Sbu`). */
export function parseTemplate(text: string): Template {
  const doc = parseDocument(text, { customTags: shortFormTags(), prettyErrors: true, uniqueKeys: true });
  // yaml reports an unknown tag as a warning and keeps the untagged value: for
  // a template that would silently turn `!Reff X` into the string 'X'.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw new Error(`template does not parse:\n${problems.map((p) => p.message).join('\n')}`);
  const js = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (!isObject(js)) throw new Error('template is not a mapping');
  if (!isObject(js.Resources)) throw new Error('template has no Resources');
  return {
    ...js,
    Parameters: objectOr(js.Parameters, 'Parameters') as Record<string, JsonObject>,
    Conditions: objectOr(js.Conditions, 'Conditions'),
    Resources: js.Resources as Record<string, Resource>,
    Outputs: objectOr(js.Outputs, 'Outputs') as Record<string, JsonObject>,
  };
}

export function loadTemplate(path: string | URL): Template {
  return parseTemplate(readFileSync(path, 'utf8'));
}

function objectOr(value: Json | undefined, section: string): JsonObject {
  if (value === undefined) return {};
  if (!isObject(value)) throw new Error(`${section} is not a mapping`);
  return value;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ 'Fn::If': args }` → args; undefined unless `value` is exactly that one-key intrinsic. */
export function intrinsic(value: Json | undefined, name: string): Json | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 && keys[0] === name ? value[name] : undefined;
}

// https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html
export const PSEUDO_PARAMETERS: ReadonlySet<string> = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

/** `${Name}` and `${Res.Attr}` in a Fn::Sub string; `${!Literal}` is an escape, not a reference. */
export function subVariables(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\$\{([^}]*)\}/g)) {
    const name = m[1]!.trim();
    if (!name.startsWith('!')) out.push(name);
  }
  return out;
}

/**
 * Lists what is wrong with the template's references: a Ref to nothing, a
 * GetAtt of a missing resource, a `${Var}` in a Sub that is neither a local
 * variable, a parameter, a resource nor a pseudo parameter, a condition used
 * but not defined, a DependsOn on a missing resource. An empty list is a pass.
 */
export function referenceProblems(template: Template): string[] {
  const problems: string[] = [];
  const params = new Set(Object.keys(template.Parameters));
  const resources = new Set(Object.keys(template.Resources));
  const conditions = new Set(Object.keys(template.Conditions));

  const checkRef = (name: string, where: string, inConditions: boolean): void => {
    if (PSEUDO_PARAMETERS.has(name) || params.has(name)) return;
    // Conditions are evaluated before any resource exists: they may Ref parameters only.
    if (!inConditions && resources.has(name)) return;
    problems.push(`${where}: Ref ${name} is not a parameter${inConditions ? '' : ', resource'} or pseudo parameter`);
  };
  const checkGetAtt = (args: Json, where: string): void => {
    const target = Array.isArray(args) ? args[0] : undefined;
    if (typeof target !== 'string' || !resources.has(target)) {
      problems.push(`${where}: GetAtt ${JSON.stringify(args)} does not name a resource`);
    }
  };
  const checkCondition = (name: Json | undefined, where: string): void => {
    if (typeof name !== 'string' || !conditions.has(name)) problems.push(`${where}: condition ${JSON.stringify(name)} is not defined`);
  };

  const walk = (node: Json, where: string, inConditions: boolean, locals: ReadonlySet<string>): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${where}[${i}]`, inConditions, locals));
      return;
    }
    if (!isObject(node)) return;
    const ref = intrinsic(node, 'Ref');
    if (ref !== undefined) {
      if (typeof ref === 'string') checkRef(ref, where, inConditions);
      else problems.push(`${where}: Ref takes a name, got ${JSON.stringify(ref)}`);
      return;
    }
    const getAtt = intrinsic(node, 'Fn::GetAtt');
    if (getAtt !== undefined) {
      checkGetAtt(getAtt, where);
      return;
    }
    const sub = intrinsic(node, 'Fn::Sub');
    if (sub !== undefined) {
      const [text, vars] = Array.isArray(sub) ? [sub[0], sub[1]] : [sub, undefined];
      const own = new Set(locals);
      if (isObject(vars)) {
        for (const [name, value] of Object.entries(vars)) {
          own.add(name);
          walk(value, `${where}.Fn::Sub.${name}`, inConditions, locals);
        }
      }
      if (typeof text !== 'string') {
        problems.push(`${where}: Fn::Sub needs a string`);
        return;
      }
      for (const name of subVariables(text)) {
        if (own.has(name)) continue;
        const dot = name.indexOf('.');
        if (dot > 0 && !name.startsWith('AWS::')) checkGetAtt([name.slice(0, dot), name.slice(dot + 1)], `${where} \${${name}}`);
        else checkRef(name, `${where} \${${name}}`, inConditions);
      }
      return;
    }
    const ifArgs = intrinsic(node, 'Fn::If');
    if (ifArgs !== undefined) {
      if (!Array.isArray(ifArgs) || ifArgs.length !== 3) problems.push(`${where}: Fn::If takes [condition, then, else]`);
      else checkCondition(ifArgs[0], where);
    }
    // `{ Condition: Name }` is a reference only inside Conditions (`!Condition Name`);
    // elsewhere `Condition` is a resource attribute or an IAM statement's block.
    const cond = intrinsic(node, 'Condition');
    if (inConditions && cond !== undefined) {
      checkCondition(cond, where);
      return;
    }
    for (const [key, value] of Object.entries(node)) walk(value, `${where}.${key}`, inConditions, locals);
  };

  for (const [name, value] of Object.entries(template.Conditions)) walk(value, `Conditions.${name}`, true, new Set());
  for (const [name, resource] of Object.entries(template.Resources)) {
    const where = `Resources.${name}`;
    if (typeof resource.Type !== 'string') problems.push(`${where}: no Type`);
    if (resource.Condition !== undefined) checkCondition(resource.Condition, `${where}.Condition`);
    const dependsOn = resource.DependsOn === undefined ? [] : Array.isArray(resource.DependsOn) ? resource.DependsOn : [resource.DependsOn];
    for (const dep of dependsOn) {
      if (typeof dep !== 'string' || !resources.has(dep)) problems.push(`${where}.DependsOn: ${JSON.stringify(dep)} is not a resource`);
    }
    for (const key of ['Properties', 'Metadata', 'UpdatePolicy', 'CreationPolicy'] as const) {
      if (resource[key] !== undefined) walk(resource[key], `${where}.${key}`, false, new Set());
    }
  }
  for (const [name, output] of Object.entries(template.Outputs)) {
    if (output.Condition !== undefined) checkCondition(output.Condition, `Outputs.${name}.Condition`);
    for (const [key, value] of Object.entries(output)) {
      if (key !== 'Condition') walk(value, `Outputs.${name}.${key}`, false, new Set());
    }
  }
  return problems;
}

/** Parameter and pseudo-parameter values for {@link evaluateConditions} and {@link materialize}. */
export type Inputs = Record<string, string | string[]>;

/**
 * The values CloudFormation would see: each parameter's Default (a
 * CommaDelimitedList split on commas) overridden by `inputs`, plus the pseudo
 * parameters given in `inputs`. A parameter without a default must be given.
 */
export function parameterValues(template: Template, inputs: Inputs): Inputs {
  const out: Inputs = {};
  for (const [name, def] of Object.entries(template.Parameters)) {
    const given = inputs[name];
    const raw = given ?? (def.Default === undefined ? undefined : String(def.Default));
    if (raw === undefined) throw new Error(`parameter ${name} has no default and no value`);
    out[name] = typeof raw === 'string' && String(def.Type).startsWith('CommaDelimitedList') ? raw.split(',') : raw;
  }
  for (const [name, value] of Object.entries(inputs)) {
    if (PSEUDO_PARAMETERS.has(name)) out[name] = value;
    else if (!(name in template.Parameters)) throw new Error(`${name} is not a parameter of the template`);
  }
  return out;
}

/** Evaluates every entry of Conditions (Equals, Not, And, Or, Condition, Ref, Join) as CloudFormation would. */
export function evaluateConditions(template: Template, inputs: Inputs): Record<string, boolean> {
  const values = parameterValues(template, inputs);
  const done: Record<string, boolean> = {};
  const visiting = new Set<string>();

  const value = (node: Json, where: string): Json => {
    const ref = intrinsic(node, 'Ref');
    if (typeof ref === 'string') {
      const v = values[ref];
      if (v === undefined) throw new Error(`${where}: no value for ${ref}`);
      return v;
    }
    const join = intrinsic(node, 'Fn::Join');
    if (Array.isArray(join)) {
      const [sep, list] = join;
      const items = value(list ?? null, where);
      if (typeof sep !== 'string' || !Array.isArray(items)) throw new Error(`${where}: bad Fn::Join`);
      return items.map((item) => String(value(item, where))).join(sep);
    }
    if (Array.isArray(node)) return node.map((item) => value(item, where));
    if (isObject(node)) throw new Error(`${where}: cannot evaluate ${JSON.stringify(node)} in a condition`);
    return node;
  };

  const truth = (node: Json, where: string): boolean => {
    const named = intrinsic(node, 'Condition');
    if (typeof named === 'string') return condition(named);
    const eq = intrinsic(node, 'Fn::Equals');
    if (Array.isArray(eq) && eq.length === 2) return JSON.stringify(value(eq[0]!, where)) === JSON.stringify(value(eq[1]!, where));
    const not = intrinsic(node, 'Fn::Not');
    if (Array.isArray(not) && not.length === 1) return !truth(not[0]!, where);
    const and = intrinsic(node, 'Fn::And');
    if (Array.isArray(and)) return and.every((c) => truth(c, where));
    const or = intrinsic(node, 'Fn::Or');
    if (Array.isArray(or)) return or.some((c) => truth(c, where));
    throw new Error(`${where}: not a condition function: ${JSON.stringify(node)}`);
  };

  const condition = (name: string): boolean => {
    if (name in done) return done[name]!;
    if (!(name in template.Conditions)) throw new Error(`condition ${name} is not defined`);
    if (visiting.has(name)) throw new Error(`condition ${name} depends on itself`);
    visiting.add(name);
    const result = truth(template.Conditions[name]!, `Conditions.${name}`);
    visiting.delete(name);
    done[name] = result;
    return result;
  };

  for (const name of Object.keys(template.Conditions)) condition(name);
  return done;
}

const NO_VALUE = Symbol('AWS::NoValue');

/**
 * The template as a stack would hold it for these inputs: resources and
 * outputs whose Condition is false are gone, each `Fn::If` is replaced by the
 * branch taken, and `Ref AWS::NoValue` removes its key or list item. Other
 * intrinsics (Ref, Sub, GetAtt) stay as they are, for the test to inspect.
 */
export function materialize(template: Template, inputs: Inputs): Template {
  const conditions = evaluateConditions(template, inputs);
  const resolve = (node: Json): Json | typeof NO_VALUE => {
    if (intrinsic(node, 'Ref') === 'AWS::NoValue') return NO_VALUE;
    const ifArgs = intrinsic(node, 'Fn::If');
    if (Array.isArray(ifArgs) && typeof ifArgs[0] === 'string') {
      const taken = conditions[ifArgs[0]] ? ifArgs[1] : ifArgs[2];
      return resolve(taken ?? null);
    }
    if (Array.isArray(node)) {
      return node.map(resolve).filter((item): item is Json => item !== NO_VALUE);
    }
    if (isObject(node)) {
      const out: JsonObject = {};
      for (const [key, value] of Object.entries(node)) {
        const resolved = resolve(value);
        if (resolved !== NO_VALUE) out[key] = resolved;
      }
      return out;
    }
    return node;
  };
  const kept = <T extends JsonObject>(section: Record<string, T>): Record<string, T> => {
    const out: Record<string, T> = {};
    for (const [name, entry] of Object.entries(section)) {
      if (typeof entry.Condition === 'string' && !conditions[entry.Condition]) continue;
      out[name] = resolve(entry) as T;
    }
    return out;
  };
  return { ...template, Resources: kept(template.Resources), Outputs: kept(template.Outputs) };
}
