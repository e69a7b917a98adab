#!/usr/bin/env node
// The import graph of src/ against the pipeline's layers (docs/architecture.md): a module imports
// only from its own folder and from folders of an earlier layer, and no import cycle exists, not
// even inside a folder. Type-only imports count: a type pulled back up the pipeline is the same
// coupling. One line per bad edge, exit 1 if there is any. `make check-imports` runs it.
//
//   node scripts/check-imports.mjs [dir]     (dir defaults to src)
//
// An own script rather than dependency-cruiser: the layers are one ordered list, which its
// rules can say only as one forbidden rule per layer, and TypeScript's parser is already here.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** The layers, first to last; an entry ending in / is a folder, otherwise a file of src/ itself. */
export const LAYERS = [
  ['base', ['errors.ts', 'terminal.ts', 'log.ts']],
  ['host', ['host/']],
  ['config', ['config/']],
  ['events', ['events/']],
  ['process', ['process/']],
  ['groups', ['groups/']],
  ['services', ['beancounters/', 'supervisor/', 'k8s/']],
  ['metrics', ['metrics/']],
  ['stream', ['stream/']],
  ['export', ['export/']],
  ['server', ['server/']],
  ['agent', ['agent/']],
  ['client', ['client/']],
  ['tail', ['tail/']],
  ['doctor', ['doctor/']],
  ['cli', ['cli/']],
  ['entry', ['index.ts']],
];

/** Where a module sits: its layer's index and name, and its unit (a folder, or src/ for a root file). */
function place(rel) {
  const slash = rel.indexOf('/');
  const unit = slash < 0 ? '' : rel.slice(0, slash + 1);
  for (let i = 0; i < LAYERS.length; i++) {
    for (const entry of LAYERS[i][1]) {
      if (entry.endsWith('/') ? unit === entry : rel === entry) return { layer: i, name: LAYERS[i][0], unit };
    }
  }
  return null;
}

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (/\.(m|c)?ts$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out.sort();
}

/** Every module specifier of a file: imports, re-exports, import(), import('x').T; type-only marked. */
function specifiers(file) {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      let typeOnly = ts.isImportDeclaration(node) ? Boolean(node.importClause?.isTypeOnly) : node.isTypeOnly;
      const named = ts.isImportDeclaration(node) ? node.importClause?.namedBindings : node.exportClause;
      if (!typeOnly && named && (ts.isNamedImports(named) || ts.isNamedExports(named)) && named.elements.length > 0) {
        const clause = ts.isImportDeclaration(node) ? node.importClause : null;
        typeOnly = !clause?.name && named.elements.every((el) => el.isTypeOnly);
      }
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push({ spec: node.arguments[0].text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ spec: node.argument.literal.text, typeOnly: true });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      found.push({ spec: node.moduleReference.expression.text, typeOnly: node.isTypeOnly });
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return found;
}

/** A relative specifier to the file it names: NodeNext writes x.js for x.ts. */
function resolve(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), base.replace(/\.cjs$/, '.cts'), `${base}.ts`, path.join(base, 'index.ts')];
  return candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile()) ?? null;
}

/** Strongly connected components (Tarjan), iterative so a long chain cannot overflow the stack. */
function components(nodes, next) {
  const index = new Map(), low = new Map(), onStack = new Set(), stack = [], out = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work = [[root, 0]];
    index.set(root, counter); low.set(root, counter); counter++; stack.push(root); onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const succ = next(v);
      if (i < succ.length) {
        frame[1]++;
        const w = succ[i];
        if (!index.has(w)) {
          index.set(w, counter); low.set(w, counter); counter++; stack.push(w); onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
        continue;
      }
      work.pop();
      if (work.length) { const u = work[work.length - 1][0]; low.set(u, Math.min(low.get(u), low.get(v))); }
      if (low.get(v) === index.get(v)) {
        const comp = [];
        let w;
        do { w = stack.pop(); onStack.delete(w); comp.push(w); } while (w !== v);
        out.push(comp);
      }
    }
  }
  return out;
}

/** The shortest cycle through `start` that stays inside `members` (breadth first). */
function shortestCycle(start, members, next) {
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of next(v)) {
      if (!members.has(w)) continue;
      if (w === start) {
        const cycle = [start];
        for (let u = v; u !== start; u = prev.get(u)) cycle.splice(1, 0, u);
        return [...cycle, start];
      }
      if (!prev.has(w)) { prev.set(w, v); queue.push(w); }
    }
  }
  return [start, start];
}

/**
 * Checks the tree under `root`; returns the problems, one string each, and counts.
 * Paths in the lines are relative to `shownFrom` (the working directory by default).
 */
export function check(root, shownFrom = process.cwd()) {
  const abs = path.resolve(root);
  const files = walk(abs);
  const rel = (f) => path.relative(abs, f).split(path.sep).join('/');
  const show = (f) => path.relative(shownFrom, f).split(path.sep).join('/') || f;
  const problems = [];
  const graph = new Map();
  let imports = 0;

  for (const f of files) {
    const from = rel(f);
    const fromPlace = place(from);
    if (!fromPlace) problems.push(`${show(f)}: in no layer (unassigned): move it to a folder of the layout or add it to LAYERS`);
    const edges = [];
    for (const { spec, typeOnly } of specifiers(f)) {
      if (!spec.startsWith('.')) continue; // a package or node: builtin
      imports++;
      const target = resolve(f, spec);
      const kind = typeOnly ? ' [type-only]' : '';
      if (!target) { problems.push(`${show(f)} -> ${spec}  unresolved${kind}`); continue; }
      if (path.relative(abs, target).startsWith('..')) continue; // outside the checked tree
      edges.push({ target, typeOnly });
      const toPlace = place(rel(target));
      if (!fromPlace || !toPlace) continue;
      if (toPlace.layer > fromPlace.layer) {
        problems.push(`${show(f)} -> ${show(target)}  back-edge: ${fromPlace.name} (layer ${fromPlace.layer + 1}) imports ${toPlace.name} (layer ${toPlace.layer + 1})${kind}`);
      } else if (toPlace.layer === fromPlace.layer && toPlace.unit !== fromPlace.unit) {
        problems.push(`${show(f)} -> ${show(target)}  sideways: ${fromPlace.unit} imports ${toPlace.unit}, both in layer ${fromPlace.layer + 1} (${fromPlace.name})${kind}`);
      }
    }
    graph.set(f, edges);
  }

  const next = (v) => (graph.get(v) ?? []).map((e) => e.target);
  for (const comp of components(files, next)) {
    const self = comp.length === 1 && next(comp[0]).includes(comp[0]);
    if (comp.length < 2 && !self) continue;
    const members = new Set(comp);
    const start = [...comp].sort()[0];
    const cycle = shortestCycle(start, members, next);
    const others = comp.length > cycle.length - 1 ? ` (one of ${comp.length} modules in this cycle knot)` : '';
    const allTypes = cycle.slice(0, -1).every((v, i) => graph.get(v).filter((e) => e.target === cycle[i + 1]).every((e) => e.typeOnly));
    problems.push(`${show(cycle[0])} -> ${show(cycle[1])}  cycle: ${cycle.map(show).join(' -> ')}${others}${allTypes ? ' [type-only]' : ''}`);
  }
  return { problems, modules: files.length, imports };
}

const invokedAsScript = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (invokedAsScript) {
  const root = process.argv[2] ?? 'src';
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    console.error(`check-imports: ${root}: not a directory`);
    process.exit(2);
  }
  const { problems, modules, imports } = check(root);
  for (const p of problems) console.log(p);
  console.log(`check-imports: ${modules} modules, ${imports} imports, ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  process.exit(problems.length ? 1 : 0);
}
