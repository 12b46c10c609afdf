// aedes behind net.createServer on 127.0.0.1, port 0: prints {"port"} and serves until killed.
// With `--tls CERT KEY`, also tls.createServer (tlsPort); with `--ws`, also a ws WebSocketServer at /mqtt (wsPort).

import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { Aedes } from "aedes"
import { createWebSocketStream, WebSocketServer } from "ws"

const listen = (server: Net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as Net.AddressInfo).port))
  )

const broker = await Aedes.createBroker()
const out: Record<string, number> = { port: await listen(Net.createServer(broker.handle)) }
const tls = process.argv.indexOf("--tls")
if (tls >= 0) {
  const options = { cert: Fs.readFileSync(process.argv[tls + 1]!), key: Fs.readFileSync(process.argv[tls + 2]!) }
  out.tlsPort = await listen(Tls.createServer(options, broker.handle))
}
if (process.argv.includes("--ws")) {
  const http = Http.createServer()
  const sockets = new WebSocketServer({ server: http, path: "/mqtt" })
  sockets.on("connection", (socket) => broker.handle(createWebSocketStream(socket) as never))
  out.wsPort = await listen(http)
}
process.stdout.write(`${JSON.stringify(out)}\n`)
