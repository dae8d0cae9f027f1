// The peer of authd's benchmark: Better Auth (email and password, bearer and JWT plugins) with
// argon2id at authd's parameters, on PostgreSQL, served by PEER_PROCESSES Node processes.
import cluster from "node:cluster";
import http from "node:http";
import argon2 from "@node-rs/argon2";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { toNodeHandler } from "better-auth/node";
import { bearer, jwt } from "better-auth/plugins";
import pg from "pg";

const url = process.env.PEER_DATABASE_URL;
const port = Number(process.env.PEER_PORT);
const processes = Number(process.env.PEER_PROCESSES ?? 2);
const cost = {
  algorithm: argon2.Algorithm.Argon2id,
  memoryCost: Number(process.env.PEER_MEMORY_KIB ?? 19456),
  timeCost: Number(process.env.PEER_ITERATIONS ?? 2),
  parallelism: 1,
};

function auth() {
  return betterAuth({
    baseURL: `http://127.0.0.1:${port}`,
    secret: "authd-bench-peer-secret-0123456789abcdef",
    database: new pg.Pool({ connectionString: url, max: 10 }),
    rateLimit: { enabled: false },
    emailAndPassword: {
      enabled: true,
      password: {
        hash: (password) => argon2.hash(password, cost),
        verify: ({ hash, password }) => argon2.verify(hash, password),
      },
    },
    plugins: [bearer(), jwt()],
    logger: { level: "error" },
  });
}

if (cluster.isPrimary) {
  const { runMigrations } = await getMigrations(auth().options);
  await runMigrations();
  for (let i = 0; i < processes; i++) cluster.fork();
  let ready = 0;
  cluster.on("message", () => {
    ready += 1;
    if (ready === processes) console.log("ready");
  });
  cluster.on("exit", (worker, code) => {
    console.error(`peer process ${worker.process.pid} exited with ${code}`);
    process.exit(1);
  });
} else {
  const server = http.createServer(toNodeHandler(auth()));
  server.keepAliveTimeout = 60_000;
  server.listen(port, "127.0.0.1", () => process.send("listening"));
}
