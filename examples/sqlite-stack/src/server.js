// A small notes API on SQLite: GET /health, GET /notes, POST /notes
// (JSON {"author": "...", "body": "..."}). Node's own http module, so the
// only dependency is better-sqlite3.
//
// On SIGTERM (oxinit's stop signal) it stops accepting connections, lets the
// requests in flight finish, closes the database (the last connection
// checkpoints the WAL) and exits 0 — well inside its stop_timeout, so
// Litestream, stopped after it, ships every committed write.
"use strict";

const http = require("node:http");
const { open } = require("./db");

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || "0.0.0.0";
const MAX_BODY = 64 * 1024;

const db = open();
const listNotes = db.prepare(
  `SELECT notes.id, authors.name AS author, notes.body, notes.created_at
     FROM notes JOIN authors ON authors.id = notes.author_id
    ORDER BY notes.id DESC LIMIT 100`
);
const upsertAuthor = db.prepare(
  `INSERT INTO authors(name) VALUES (?) ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id`
);
const insertNote = db.prepare(
  `INSERT INTO notes(author_id, body) VALUES (?, ?) RETURNING id, created_at`
);
const addNote = db.transaction((author, body) => {
  const { id: authorId } = upsertAuthor.get(author);
  return insertNote.get(authorId, body);
});
const ping = db.prepare("SELECT 1 AS ok");

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error("body too large"), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}"));
      } catch {
        reject(Object.assign(new Error("invalid JSON"), { status: 400 }));
      }
    });
    req.on("error", reject);
  });
}

async function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/health" && req.method === "GET") {
    // Healthy means the database answers, not merely that Node runs.
    return send(res, 200, { ok: ping.get().ok === 1 });
  }
  if (url.pathname === "/notes" && req.method === "GET") {
    return send(res, 200, listNotes.all());
  }
  if (url.pathname === "/notes" && req.method === "POST") {
    const { author, body } = await readJson(req);
    if (typeof author !== "string" || !author || typeof body !== "string" || !body) {
      return send(res, 400, { error: "author and body must be non-empty strings" });
    }
    return send(res, 201, addNote(author, body));
  }
  return send(res, 404, { error: "not found" });
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    const status = err.status || 500;
    if (status === 500) console.error(err);
    if (!res.headersSent) send(res, status, { error: err.message });
  });
});

server.listen(PORT, HOST, () => console.log(`listening on ${HOST}:${PORT}`));

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: finishing requests in flight`);
  server.close(() => {
    db.close();
    console.log("database closed");
    process.exit(0);
  });
  // Idle keep-alive connections would hold close() open.
  server.closeIdleConnections();
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
