// Reads a ZodWorker catalog file (trigger.dev v2's worker.server.ts, or a team's fork of it)
// with the TypeScript compiler API and prints, as JSON on stdout, what `new ZodWorker({...})`
// declares: each worker's settings, tasks, recurring tasks and cleanup, and the zod schema of
// each task (its source text and, where it can be evaluated, its JSON Schema).
//
//   node extract.mjs path/to/worker.server.ts [--no-evaluate]
//
// Nothing is guessed: a value that is not a literal (or arithmetic on literals) is reported
// with its source text, for the caller to list as untranslated.

import { createRequire, Module } from "node:module";
import fs from "node:fs";
import path from "node:path";

const requireHere = createRequire(import.meta.url);
let ts;
try {
  ts = requireHere("typescript");
} catch {
  process.stderr.write("typescript-missing\n");
  process.exit(3);
}

const args = process.argv.slice(2);
const envIndex = args.indexOf("--env");
const envFile = envIndex >= 0 ? args[envIndex + 1] : null;
const file = args.find((a, i) => !a.startsWith("--") && !(envIndex >= 0 && i === envIndex + 1));
const evaluate = !args.includes("--no-evaluate");
if (!file) {
  process.stderr.write(
    "usage: node extract.mjs path/to/worker.server.ts [--env path/to/env.server.ts] [--no-evaluate]\n"
  );
  process.exit(2);
}
const sourcePath = path.resolve(file);
const text = fs.readFileSync(sourcePath, "utf8");
const sf = ts.createSourceFile(sourcePath, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);

// `NAME: z.<...>.default(<literal>)` anywhere in the env file: env.NAME's default.
const envDefaults = new Map();
if (envFile) {
  const envSf = ts.createSourceFile(
    path.resolve(envFile), fs.readFileSync(envFile, "utf8"), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS
  );
  (function visit(node) {
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name))) {
      let call = node.initializer;
      while (ts.isCallExpression(call) && ts.isPropertyAccessExpression(call.expression)) {
        if (call.expression.name.text === "default" && call.arguments.length === 1) {
          const v = literalOf(call.arguments[0]);
          if (v !== undefined) envDefaults.set(node.name.text, v);
          break;
        }
        call = call.expression.expression;
      }
    }
    ts.forEachChild(node, visit);
  })(envSf);
}
function literalOf(node) {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isNumericLiteral(node)) return Number(node.text.replace(/_/g, ""));
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken && ts.isNumericLiteral(node.operand)) {
    return -Number(node.operand.text);
  }
  return undefined;
}

const lineOf = (node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
const src = (node) => node.getText(sf);

function propName(name) {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name)) {
    return name.text;
  }
  if (ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  return null; // computed names are reported by the caller
}

function unwrap(node) {
  while (
    ts.isParenthesizedExpression(node) ||
    ts.isAsExpression(node) ||
    ts.isSatisfiesExpression?.(node) ||
    ts.isNonNullExpression(node) ||
    ts.isTypeAssertionExpression?.(node)
  ) {
    node = node.expression;
  }
  return node;
}

// A literal value: strings, numbers (with arithmetic), booleans, null, arrays and objects of
// those. Anything else is undefined.
const NOT_LITERAL = Symbol("not literal");
const resolving = new Set();
function literal(node) {
  node = unwrap(node);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isIdentifier(node)) {
    // a top-level `const NAME = <literal>`
    const d = locals.get(node.text);
    if (
      d && ts.isVariableDeclaration(d) && d.initializer &&
      d.parent.flags & ts.NodeFlags.Const && !resolving.has(node.text)
    ) {
      resolving.add(node.text);
      try {
        return literal(d.initializer);
      } finally {
        resolving.delete(node.text);
      }
    }
    return NOT_LITERAL;
  }
  if (ts.isNumericLiteral(node)) return Number(node.text.replace(/_/g, ""));
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (node.kind === ts.SyntaxKind.NullKeyword) return null;
  if (
    ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) &&
    node.expression.text === "env" && envDefaults.has(node.name.text)
  ) {
    return envDefaults.get(node.name.text);
  }
  if (ts.isPrefixUnaryExpression(node)) {
    const v = literal(node.operand);
    if (typeof v !== "number") return NOT_LITERAL;
    if (node.operator === ts.SyntaxKind.MinusToken) return -v;
    if (node.operator === ts.SyntaxKind.PlusToken) return v;
    return NOT_LITERAL;
  }
  if (ts.isBinaryExpression(node)) {
    const a = literal(node.left);
    const b = literal(node.right);
    if (typeof a !== "number" || typeof b !== "number") return NOT_LITERAL;
    switch (node.operatorToken.kind) {
      case ts.SyntaxKind.PlusToken:
        return a + b;
      case ts.SyntaxKind.MinusToken:
        return a - b;
      case ts.SyntaxKind.AsteriskToken:
        return a * b;
      case ts.SyntaxKind.SlashToken:
        return a / b;
      case ts.SyntaxKind.AsteriskAsteriskToken:
        return a ** b;
      default:
        return NOT_LITERAL;
    }
  }
  if (ts.isArrayLiteralExpression(node)) {
    const out = [];
    for (const el of node.elements) {
      const v = literal(el);
      if (v === NOT_LITERAL) return NOT_LITERAL;
      out.push(v);
    }
    return out;
  }
  if (ts.isObjectLiteralExpression(node)) {
    const out = {};
    for (const p of node.properties) {
      if (!ts.isPropertyAssignment(p)) return NOT_LITERAL;
      const k = propName(p.name);
      const v = literal(p.initializer);
      if (k === null || v === NOT_LITERAL) return NOT_LITERAL;
      out[k] = v;
    }
    return out;
  }
  return NOT_LITERAL;
}

// {value} for a literal, else {expression: source text}; functions are described further.
function describe(node) {
  const v = literal(node);
  if (v !== NOT_LITERAL) {
    return /\benv\.[A-Za-z_]/.test(src(node)) ? { value: v, env: src(node) } : { value: v };
  }
  const inner = unwrap(node);
  if (ts.isArrowFunction(inner) || ts.isFunctionExpression(inner)) {
    return { function: src(inner), template: payloadTemplate(inner) };
  }
  return { expression: src(node) };
}

// `(p) => \`x:${p.id}\`` or `({ id }) => \`x:${id}\`` (or a body that only returns such a
// template) → "x:{id}"; anything else → null.
function payloadTemplate(fn) {
  if (fn.parameters.length !== 1) return null;
  const param = fn.parameters[0].name;
  let body = fn.body;
  if (ts.isBlock(body)) {
    if (body.statements.length !== 1 || !ts.isReturnStatement(body.statements[0])) return null;
    body = body.statements[0].expression;
    if (!body) return null;
  }
  body = unwrap(body);
  const escape = (s) => s.replace(/\{/g, "{{").replace(/\}/g, "}}");
  const fieldOf = (expr) => {
    expr = unwrap(expr);
    const names = [];
    while (ts.isPropertyAccessExpression(expr)) {
      if (expr.questionDotToken) return null;
      names.unshift(expr.name.text);
      expr = expr.expression;
    }
    if (!ts.isIdentifier(expr)) return null;
    if (ts.isIdentifier(param)) {
      return expr.text === param.text && names.length > 0 ? names.join(".") : null;
    }
    if (ts.isObjectBindingPattern(param)) {
      for (const el of param.elements) {
        if (el.dotDotDotToken || el.initializer || !ts.isIdentifier(el.name)) continue;
        if (el.name.text === expr.text) {
          const key = el.propertyName ? propName(el.propertyName) : el.name.text;
          return key === null ? null : [key, ...names].join(".");
        }
      }
    }
    return null;
  };
  if (ts.isNoSubstitutionTemplateLiteral(body) || ts.isStringLiteral(body)) {
    return escape(body.text);
  }
  if (!ts.isTemplateExpression(body)) return null;
  let out = escape(body.head.text);
  for (const span of body.templateSpans) {
    const field = fieldOf(span.expression);
    if (field === null) return null;
    out += `{${field}}` + escape(span.literal.text);
  }
  return out;
}

// -- top-level declarations ---------------------------------------------------------------

const imports = new Map(); // local name -> {module, imported, kind, statement}
const locals = new Map(); // name -> VariableDeclaration / FunctionDeclaration
for (const st of sf.statements) {
  if (ts.isImportDeclaration(st) && st.importClause && !st.importClause.isTypeOnly) {
    const module = st.moduleSpecifier.text;
    const clause = st.importClause;
    if (clause.name) imports.set(clause.name.text, { module, imported: "default" });
    const nb = clause.namedBindings;
    if (nb && ts.isNamespaceImport(nb)) imports.set(nb.name.text, { module, imported: "*" });
    if (nb && ts.isNamedImports(nb)) {
      for (const el of nb.elements) {
        if (el.isTypeOnly) continue;
        imports.set(el.name.text, {
          module,
          imported: el.propertyName ? el.propertyName.text : el.name.text,
        });
      }
    }
  } else if (ts.isVariableStatement(st)) {
    for (const d of st.declarationList.declarations) {
      if (ts.isIdentifier(d.name)) locals.set(d.name.text, d);
    }
  } else if (ts.isFunctionDeclaration(st) && st.name) {
    locals.set(st.name.text, st);
  }
}

// -- the ZodWorker constructions -----------------------------------------------------------

const problems = [];
const workers = [];

function objectProps(node, where) {
  const out = new Map();
  for (const p of node.properties) {
    if (ts.isPropertyAssignment(p)) {
      const k = propName(p.name);
      if (k === null) {
        problems.push({ where, line: lineOf(p), text: src(p), reason: "computed property name" });
      } else {
        out.set(k, p.initializer);
      }
    } else if (ts.isShorthandPropertyAssignment(p)) {
      out.set(p.name.text, p.name);
    } else if (ts.isMethodDeclaration(p) && p.name) {
      const k = propName(p.name);
      if (k !== null) out.set(k, p);
    } else {
      problems.push({ where, line: lineOf(p), text: src(p), reason: "spread or accessor" });
    }
  }
  return out;
}

// An identifier naming a top-level `const X = {...}` resolves to that object literal.
function resolveObject(node) {
  node = unwrap(node);
  if (ts.isObjectLiteralExpression(node)) return node;
  if (ts.isIdentifier(node)) {
    const d = locals.get(node.text);
    if (d && ts.isVariableDeclaration(d) && d.initializer) {
      const init = unwrap(d.initializer);
      if (ts.isObjectLiteralExpression(init)) return init;
    }
  }
  return null;
}

function settingsOf(obj, where) {
  const out = {};
  for (const [k, v] of objectProps(obj, where)) {
    if (ts.isMethodDeclaration(v)) out[k] = { function: src(v), template: null };
    else out[k] = describe(v);
  }
  return out;
}

function handlerText(node) {
  const t = src(node);
  return t.length > 400 ? t.slice(0, 400) + "…" : t;
}

function readTasks(obj, where) {
  const tasks = {};
  for (const [id, init] of objectProps(obj, where)) {
    const def = resolveObject(init);
    if (!def) {
      problems.push({ where: `${where}.${id}`, line: lineOf(init), text: src(init), reason: "not an object literal" });
      continue;
    }
    const entry = { line: lineOf(def), settings: {}, handler: null };
    for (const [k, v] of objectProps(def, `${where}.${id}`)) {
      if (k === "handler") entry.handler = handlerText(v);
      else if (k === "options") {
        const o = resolveObject(v);
        entry.options = o ? settingsOf(o, `${where}.${id}.options`) : { expression: src(v) };
      } else entry.settings[k] = ts.isMethodDeclaration(v) ? { function: src(v), template: null } : describe(v);
    }
    tasks[id] = entry;
  }
  return tasks;
}

function readSchemaCatalog(node, where) {
  const obj = resolveObject(node);
  if (!obj) return { expression: src(node) };
  const entries = {};
  for (const [id, init] of objectProps(obj, where)) {
    entries[id] = { line: lineOf(init), text: src(init), node: init };
  }
  const name = ts.isIdentifier(unwrap(node)) ? unwrap(node).text : null;
  return { name, entries };
}

function readWorker(call) {
  const arg = call.arguments[0] && resolveObject(call.arguments[0]);
  const line = lineOf(call);
  if (!arg) {
    problems.push({ where: "new ZodWorker", line, text: src(call), reason: "options are not an object literal" });
    return;
  }
  const props = objectProps(arg, "new ZodWorker");
  const nameNode = props.get("name");
  const name = nameNode ? literal(nameNode) : NOT_LITERAL;
  const where = typeof name === "string" ? name : `ZodWorker@${line}`;
  if (typeof name !== "string") {
    problems.push({ where, line, text: nameNode ? src(nameNode) : "(none)", reason: "the worker's name is not a string literal" });
  }
  const worker = { name: where, line, settings: {}, runnerOptions: {}, other: {} };
  for (const [k, v] of props) {
    if (k === "name") continue;
    if (k === "schema") worker.schema = readSchemaCatalog(v, `${where}.schema`);
    else if (k === "tasks") {
      const o = resolveObject(v);
      worker.tasks = o ? readTasks(o, `${where}.tasks`) : {};
      if (!o) problems.push({ where: `${where}.tasks`, line: lineOf(v), text: src(v), reason: "not an object literal" });
    } else if (k === "recurringTasks") {
      const o = resolveObject(v);
      worker.recurringTasks = o ? readTasks(o, `${where}.recurringTasks`) : {};
      if (!o) problems.push({ where: `${where}.recurringTasks`, line: lineOf(v), text: src(v), reason: "not an object literal" });
    } else if (k === "runnerOptions") {
      const o = resolveObject(v);
      if (o) worker.runnerOptions = settingsOf(o, `${where}.runnerOptions`);
      else worker.runnerOptions = { expression: src(v) };
    } else if (k === "cleanup") {
      const o = resolveObject(v);
      if (o) {
        worker.cleanup = settingsOf(o, `${where}.cleanup`);
        const t = objectProps(o, `${where}.cleanup`).get("taskOptions");
        const to = t && resolveObject(t);
        if (to) worker.cleanup.taskOptions = { value: null, object: settingsOf(to, `${where}.cleanup.taskOptions`) };
      } else worker.cleanup = { expression: src(v) };
    } else if (k === "shutdownTimeoutInMs") worker.settings[k] = describe(v);
    else worker.other[k] = { expression: src(v), line: lineOf(v) };
  }
  workers.push(worker);
}

function isZodWorkerNew(node) {
  if (!ts.isNewExpression(node)) return false;
  const e = node.expression;
  return (ts.isIdentifier(e) && e.text === "ZodWorker") ||
    (ts.isPropertyAccessExpression(e) && e.name.text === "ZodWorker");
}

(function visit(node) {
  if (isZodWorkerNew(node)) readWorker(node);
  ts.forEachChild(node, visit);
})(sf);

// -- evaluating the schemas ----------------------------------------------------------------

const GLOBALS = new Set(["undefined", "Date", "Number", "String", "Boolean", "Object", "Array", "JSON", "Math", "RegExp", "Symbol", "BigInt", "Infinity", "NaN", "Error", "Map", "Set", "Promise"]);

// Free identifiers an expression (or declaration) reads.
function freeIdentifiers(node) {
  const out = new Set();
  const bound = new Set();
  (function walk(n) {
    if (ts.isIdentifier(n)) {
      const p = n.parent;
      const isName =
        (p && ts.isPropertyAccessExpression(p) && p.name === n) ||
        (p && ts.isPropertyAssignment(p) && p.name === n) ||
        (p && (ts.isParameter(p) || ts.isBindingElement(p) || ts.isVariableDeclaration(p)) && p.name === n) ||
        (p && ts.isTypeReferenceNode?.(p));
      if (p && (ts.isParameter(p) || ts.isBindingElement(p)) && p.name === n) bound.add(n.text);
      if (!isName && !GLOBALS.has(n.text)) out.add(n.text);
      if (p && ts.isShorthandPropertyAssignment(p)) out.add(n.text);
      return;
    }
    if (ts.isTypeNode?.(n)) return;
    ts.forEachChild(n, walk);
  })(node);
  for (const b of bound) out.delete(b);
  return out;
}

function moduleFor(expr) {
  // imports and top-level declarations the expression needs, in source order
  const needImports = new Map();
  const needLocals = new Set();
  const pending = [...freeIdentifiers(expr)];
  const unknown = [];
  while (pending.length) {
    const name = pending.pop();
    if (imports.has(name)) needImports.set(name, imports.get(name));
    else if (locals.has(name)) {
      if (!needLocals.has(name)) {
        needLocals.add(name);
        pending.push(...freeIdentifiers(locals.get(name)));
      }
    } else unknown.push(name);
  }
  if (unknown.length) return { error: `needs ${unknown.join(", ")}, which the file neither imports nor declares` };
  const lines = [];
  for (const [local, imp] of needImports) {
    const spec = JSON.stringify(imp.module);
    if (imp.imported === "*") lines.push(`import * as ${local} from ${spec};`);
    else if (imp.imported === "default") lines.push(`import ${local} from ${spec};`);
    else lines.push(`import { ${imp.imported} as ${local} } from ${spec};`);
  }
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && needLocals.has(d.name.text)) {
          lines.push(`const ${src(d)};`);
        }
      }
    } else if (ts.isFunctionDeclaration(st) && st.name && needLocals.has(st.name.text)) {
      lines.push(src(st).replace(/^export\s+(default\s+)?/, ""));
    }
  }
  lines.push(`export const __schema = (${src(expr)});`);
  return { code: lines.join("\n") };
}

function requireFrom(code, fakeFile) {
  const js = ts.transpileModule(code, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2020,
      esModuleInterop: true,
    },
  }).outputText;
  const m = new Module(fakeFile, null);
  m.filename = fakeFile;
  m.paths = Module._nodeModulePaths(path.dirname(fakeFile));
  m._compile(js, fakeFile);
  return m.exports;
}

const schemas = {};
let converter = null;
let converterError = null;
if (evaluate) {
  try {
    const teamRequire = createRequire(sourcePath);
    const mod = teamRequire("zod-to-json-schema");
    converter = mod.zodToJsonSchema ?? mod.default;
  } catch (e) {
    converterError = `zod-to-json-schema cannot be required from ${path.dirname(sourcePath)} (install the team's packages there): ${e.message.split("\n")[0]}`;
  }
}
const fakeFile = path.join(path.dirname(sourcePath), "__trigger_compat_schema__.js");
for (const worker of workers) {
  const entries = worker.schema?.entries ?? {};
  for (const [id, entry] of Object.entries(entries)) {
    const out = { text: entry.text, line: entry.line };
    if (!evaluate) out.error = "not evaluated (--no-evaluate)";
    else if (!converter) out.error = converterError;
    else {
      const mod = moduleFor(entry.node);
      if (mod.error) out.error = mod.error;
      else {
        try {
          const zodSchema = requireFrom(mod.code, fakeFile).__schema;
          out.jsonSchema = converter(zodSchema, { target: "jsonSchema7", $refStrategy: "none" });
        } catch (e) {
          out.error = `could not be evaluated: ${String(e && e.message ? e.message : e).split("\n")[0]}`;
        }
      }
    }
    schemas[`${worker.name}\u0000${id}`] = out;
  }
  if (worker.schema) {
    worker.schema = {
      name: worker.schema.name ?? null,
      expression: worker.schema.expression ?? null,
      entries: Object.fromEntries(
        Object.keys(entries).map((id) => [id, schemas[`${worker.name}\u0000${id}`]])
      ),
    };
  }
}

process.stdout.write(
  JSON.stringify(
    { file: sourcePath, typescript: ts.version, env: envFile ? path.resolve(envFile) : null, workers, problems },
    null,
    2
  ) + "\n"
);
