// The API reference page: fetches /openapi.json (OpenAPI 3.1) and renders it by tag: method,
// path, summary, parameters, request fields and responses, then the shared schemas. No
// framework, no build step, no inline script or style (the page's CSP allows neither); all text
// goes in as text nodes.

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
};
const METHODS = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];

let spec = {};

// ---- Text ---------------------------------------------------------------------------------
/** `text` with `code` spans as <code>. */
function inline(text = "") {
  const fragment = document.createDocumentFragment();
  String(text).split(/`([^`]+)`/).forEach((part, i) => {
    if (part) fragment.append(i % 2 ? el("code", { textContent: part }) : document.createTextNode(part));
  });
  return fragment;
}

/** Paragraphs (blank lines) of lines (single line breaks). */
function prose(text = "", className = "") {
  const fragment = document.createDocumentFragment();
  for (const paragraph of String(text).split(/\n\s*\n/)) {
    if (!paragraph.trim()) continue;
    const p = el("p", { className });
    paragraph.split("\n").forEach((line, i) => {
      if (i) p.append(el("br"));
      p.append(inline(line));
    });
    fragment.append(p);
  }
  return fragment;
}

// ---- References and types ---------------------------------------------------------------
/** The object a local `$ref` points to (following chains), else the object itself. */
function resolve(object, depth = 0) {
  if (!object || typeof object !== "object" || !object.$ref || depth > 16) return object ?? {};
  const target = object.$ref.replace(/^#\//, "").split("/").reduce((node, key) => node?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
  const resolved = resolve(target, depth + 1);
  return object.description ? { ...resolved, description: object.description } : resolved;
}

const schemaName = (schema) => schema?.$ref?.startsWith("#/components/schemas/") ? schema.$ref.split("/").pop() : null;

function schemaLink(name) {
  return el("a", { href: `#schema-${name}`, className: "api-type-ref", textContent: name });
}

/** A short rendering of a schema's type: `string | null`, `array of Video`, a link to a schema. */
function typeOf(schema = {}) {
  const fragment = document.createDocumentFragment();
  const join = (items, separator) => items.forEach((item, i) => fragment.append(...(i ? [separator] : []), typeOf(item)));
  const name = schemaName(schema);
  if (name) {
    fragment.append(schemaLink(name));
  } else if (schema.allOf) {
    join(schema.allOf, " & ");
  } else if (schema.anyOf || schema.oneOf) {
    join(schema.anyOf || schema.oneOf, " | ");
  } else if ("const" in schema) {
    fragment.append(el("code", { textContent: JSON.stringify(schema.const) }));
  } else if (schema.enum) {
    schema.enum.forEach((value, i) => fragment.append(...(i ? [" | "] : []), el("code", { textContent: JSON.stringify(value) })));
  } else {
    const types = [].concat(schema.type ?? (schema.properties ? "object" : "any"));
    types.forEach((type, i) => {
      if (i) fragment.append(" | ");
      if (type === "array" && schema.prefixItems) {
        fragment.append("[");
        schema.prefixItems.forEach((item, j) => fragment.append(...(j ? [", "] : []), typeOf(item)));
        fragment.append("]");
      } else if (type === "array") {
        fragment.append("array of ", typeOf(schema.items ?? {}));
      } else if (type === "object" && !schema.properties && schema.additionalProperties && typeof schema.additionalProperties === "object") {
        fragment.append("map of ", typeOf(schema.additionalProperties));
      } else {
        fragment.append(type);
      }
    });
  }
  return fragment;
}

/** A bound as the document means it (JSON numbers past 2^53 lose digits in JavaScript). */
const bound = (n) => (n >= 18446744073709551615 ? "2^64 - 1" : String(n));

/** The constraints of a schema, in words. */
function constraints(schema = {}) {
  const out = [];
  const range = (min, max, unit = "") => {
    [min, max] = [min, max].map((n) => (n === undefined ? n : bound(n)));
    if (min !== undefined && max !== undefined) out.push(`${min} to ${max}${unit}`);
    else if (min !== undefined) out.push(`at least ${min}${unit}`);
    else if (max !== undefined) out.push(`at most ${max}${unit}`);
  };
  range(schema.minimum, schema.maximum);
  range(schema.minLength, schema.maxLength, " characters");
  range(schema.minItems, schema.maxItems, " items");
  if (schema.maxProperties === 0) out.push("empty");
  if (schema.format) out.push(`format ${schema.format}`);
  if (schema.pattern) out.push(`pattern \`${schema.pattern}\``);
  if ("default" in schema) out.push(`default \`${JSON.stringify(schema.default)}\``);
  if (schema.additionalProperties === false) out.push("no other fields");
  return out.join("; ");
}

/** The properties of an object schema, merging `allOf` parts (and their references). */
function properties(schema) {
  schema = resolve(schema);
  let props = {};
  let required = new Set(schema.required ?? []);
  for (const part of schema.allOf ?? []) {
    const merged = properties(part);
    props = { ...props, ...merged.props };
    merged.required.forEach((key) => required.add(key));
  }
  props = { ...props, ...(schema.properties ?? {}) };
  return { props, required };
}

/** A table of an object schema's fields; inline nested objects as `parent.child` rows. */
function fieldsTable(schema) {
  const rows = [];
  const walk = (object, prefix, depth) => {
    const { props, required } = properties(object);
    for (const [key, sub] of Object.entries(props)) {
      const name = prefix + key;
      const details = [sub.description, constraints(sub)].filter(Boolean).join(" — ");
      rows.push(el("tr", {},
        el("td", {}, el("code", { textContent: name })),
        el("td", {}, typeOf(sub)),
        el("td", { textContent: required.has(key) ? "required" : "" }),
        el("td", {}, inline(details))));
      const inlineObject = !schemaName(sub) && sub.properties;
      const inlineItems = !schemaName(sub) && sub.items && !schemaName(sub.items) && sub.items.properties;
      if (depth < 3 && inlineObject) walk(sub, `${name}.`, depth + 1);
      if (depth < 3 && inlineItems) walk(sub.items, `${name}[].`, depth + 1);
    }
  };
  walk(schema, "", 0);
  if (!rows.length) return null;
  return el("div", { className: "api-scroll" }, el("table", { className: "api-table" },
    el("thead", {}, el("tr", {}, ...["Field", "Type", "", "Notes"].map((h) => el("th", { scope: "col", textContent: h })))),
    el("tbody", {}, ...rows)));
}

/** A schema: its fields when it is an object, else its type and constraints. */
function schemaBlock(schema) {
  const resolved = resolve(schema);
  const table = (resolved.properties || resolved.allOf) ? fieldsTable(schema) : null;
  const head = el("p", { className: "api-schema-type" }, "Type: ", typeOf(schema));
  const notes = constraints(resolved);
  if (notes && !schemaName(schema)) head.append(" — ", inline(notes));
  return el("div", {}, head, table);
}

// ---- Operations ---------------------------------------------------------------------------
function authLabel(operation) {
  const requirements = operation.security ?? spec.security ?? [];
  if (!requirements.length) return null;
  const optional = requirements.some((r) => Object.keys(r).length === 0);
  const names = requirements.flatMap((r) => Object.keys(r));
  const what = names.includes("bearerAuth") ? "bearer token" : names.includes("refreshCookie") ? "refresh cookie" : names.join(", ");
  return el("span", { className: `api-auth${optional ? " optional" : ""}`, textContent: optional ? `${what} optional` : what });
}

function parametersBlock(parameters) {
  if (!parameters.length) return null;
  const rows = parameters.map((raw) => {
    const p = resolve(raw);
    const details = [p.description, constraints(p.schema ?? {})].filter(Boolean).join(" — ");
    return el("tr", {},
      el("td", {}, el("code", { textContent: p.name })),
      el("td", { textContent: p.in }),
      el("td", {}, typeOf(p.schema ?? {})),
      el("td", { textContent: p.required ? "required" : "" }),
      el("td", {}, inline(details)));
  });
  return el("div", {}, el("h4", { textContent: "Parameters" }),
    el("div", { className: "api-scroll" }, el("table", { className: "api-table" },
      el("thead", {}, el("tr", {}, ...["Name", "In", "Type", "", "Notes"].map((h) => el("th", { scope: "col", textContent: h })))),
      el("tbody", {}, ...rows))));
}

function requestBlock(body) {
  if (!body) return null;
  body = resolve(body);
  const block = el("div", {}, el("h4", { textContent: `Request body${body.required ? "" : " (optional)"}` }));
  if (body.description) block.append(prose(body.description));
  for (const [media, content] of Object.entries(body.content ?? {})) {
    block.append(el("p", { className: "muted" }, el("code", { textContent: media })));
    if (content.schema) block.append(schemaBlock(content.schema));
    if (content.example !== undefined) {
      block.append(el("details", { className: "api-example" }, el("summary", { textContent: "Example" }),
        el("pre", {}, el("code", { textContent: JSON.stringify(content.example, null, 2) }))));
    }
  }
  return block;
}

function responsesBlock(responses) {
  const rows = Object.entries(responses ?? {}).map(([status, raw]) => {
    const response = resolve(raw);
    const content = el("td", {});
    for (const [media, value] of Object.entries(response.content ?? {})) {
      content.append(el("div", {}, el("code", { textContent: media }), value.schema ? " " : "", value.schema ? typeOf(value.schema) : ""));
    }
    const headers = Object.keys(response.headers ?? {});
    if (headers.length) content.append(el("div", { className: "muted" }, `headers: ${headers.join(", ")}`));
    const kind = status.startsWith("2") || status.startsWith("3") ? "ok" : "error";
    return el("tr", {},
      el("td", {}, el("span", { className: `api-status ${kind}`, textContent: status })),
      el("td", {}, inline(response.description ?? "")),
      content);
  });
  return el("div", {}, el("h4", { textContent: "Responses" }),
    el("div", { className: "api-scroll" }, el("table", { className: "api-table" },
      el("thead", {}, el("tr", {}, ...["Status", "When", "Body"].map((h) => el("th", { scope: "col", textContent: h })))),
      el("tbody", {}, ...rows))));
}

function operationBlock(path, method, operation, shared) {
  const id = operation.operationId ?? `${method}-${path}`;
  const details = el("details", { className: "api-op", id: `op-${id}` });
  details.dataset.search = [method, path, operation.summary, operation.description, id,
    ...Object.entries(operation.responses ?? {}).map(([status, r]) => `${status} ${resolve(r).description ?? ""}`)].join(" ").toLowerCase();
  details.append(el("summary", {},
    el("span", { className: `api-method ${method}`, textContent: method.toUpperCase() }),
    el("code", { className: "api-path", textContent: path }),
    el("span", { className: "api-summary", textContent: operation.summary ?? "" }),
    authLabel(operation)));
  const body = el("div", { className: "api-op-body" });
  if (operation.description) body.append(prose(operation.description));
  body.append(el("p", { className: "muted api-op-id" }, "operationId ", el("code", { textContent: id }), " · ",
    el("a", { href: `#op-${id}`, textContent: "link" })));
  body.append(
    parametersBlock([...shared, ...(operation.parameters ?? [])]) ?? "",
    requestBlock(operation.requestBody) ?? "",
    responsesBlock(operation.responses));
  details.append(body);
  return details;
}

// ---- Page ---------------------------------------------------------------------------------
function intro() {
  const info = spec.info ?? {};
  const section = $("api-intro");
  section.replaceChildren(
    el("h2", { textContent: `${info.title ?? "API"} ${info.version ? `v${info.version}` : ""}`.trim() }),
    info.summary ? el("p", { className: "api-lead" }, inline(info.summary)) : "",
    prose(info.description ?? ""));
  const servers = (spec.servers ?? []).map((s) => s.url);
  const schemes = Object.entries(spec.components?.securitySchemes ?? {});
  const facts = el("dl", { className: "api-facts" },
    el("dt", { textContent: "OpenAPI" }), el("dd", {}, el("code", { textContent: spec.openapi ?? "?" })),
    el("dt", { textContent: "Servers" }), el("dd", {}, ...servers.map((url) => el("code", { textContent: url }))));
  for (const [name, scheme] of schemes) {
    const where = scheme.type === "http" ? `HTTP ${scheme.scheme}${scheme.bearerFormat ? ` (${scheme.bearerFormat})` : ""}` : `${scheme.type} in ${scheme.in} \`${scheme.name}\``;
    facts.append(el("dt", {}, el("code", { textContent: name })), el("dd", {}, inline(`${where}. ${scheme.description ?? ""}`)));
  }
  section.append(facts);
}

function render() {
  intro();
  const tags = (spec.tags ?? []).map((t) => ({ ...t, operations: [] }));
  const byName = new Map(tags.map((t) => [t.name, t]));
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      for (const name of operation.tags?.length ? operation.tags : ["other"]) {
        if (!byName.has(name)) {
          const tag = { name, operations: [] };
          byName.set(name, tag);
          tags.push(tag);
        }
        byName.get(name).operations.push({ path, method, operation, shared: item.parameters ?? [] });
      }
    }
  }
  const toc = el("ul", {});
  const sections = tags.filter((t) => t.operations.length).map((tag) => {
    toc.append(el("li", {}, el("a", { href: `#tag-${tag.name}`, textContent: tag.name }), el("span", { className: "muted", textContent: ` ${tag.operations.length}` })));
    return el("section", { className: "card api-tag", id: `tag-${tag.name}` },
      el("h2", { textContent: tag.name }),
      tag.description ? prose(tag.description, "muted") : "",
      ...tag.operations.map(({ path, method, operation, shared }) => operationBlock(path, method, operation, shared)));
  });
  $("api-tags").replaceChildren(...sections);

  const schemas = Object.entries(spec.components?.schemas ?? {});
  if (schemas.length) {
    toc.append(el("li", {}, el("a", { href: "#api-schemas", textContent: "schemas" }), el("span", { className: "muted", textContent: ` ${schemas.length}` })));
    $("api-schema-list").replaceChildren(...schemas.map(([name, schema]) => el("article", { className: "api-schema", id: `schema-${name}` },
      el("h3", {}, el("code", { textContent: name })),
      schema.description ? prose(schema.description) : "",
      schemaBlock(schema))));
    $("api-schemas").hidden = false;
  }
  $("api-toc").replaceChildren(el("h2", { textContent: "Sections" }), toc);
  $("api-toc").hidden = false;
}

function applyFilter() {
  const words = $("api-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const section of document.querySelectorAll(".api-tag")) {
    let shown = 0;
    for (const op of section.querySelectorAll(".api-op")) {
      const match = words.every((w) => op.dataset.search.includes(w));
      op.hidden = !match;
      if (match) shown++;
    }
    section.hidden = shown === 0;
  }
}

function openFromHash() {
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (!target) return;
  if (target.matches("details")) target.open = true;
  target.scrollIntoView();
}

$("api-filter-form").addEventListener("submit", (event) => event.preventDefault());
$("api-filter").addEventListener("input", applyFilter);
window.addEventListener("hashchange", openFromHash);

try {
  const response = await fetch("/openapi.json", { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
  spec = await response.json();
  render();
  openFromHash();
} catch (error) {
  $("api-status").textContent = `Could not load the API description: ${error?.message ?? error}`;
}
