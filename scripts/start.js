// `npm start`: starts an mqttest server with the default configuration (after `npm run build`).
// The `mqttest` CLI (packages/cli) will take this over; until then this is the whole command line:
// the first stdout line is a JSON object with the bound host and port, and SIGINT/SIGTERM stop it.
import { start } from "@mqttest/server"

const server = await start()
process.stdout.write(`${JSON.stringify({ host: server.host, port: server.port, url: server.url })}\n`)
process.stderr.write(`mqttest listening on ${server.url} (Ctrl-C to stop)\n`)

const stop = async () => {
  const stats = await server.stop()
  process.stderr.write(
    `mqttest stopped: ${stats.connections} connection(s), ${stats.packetsIn} packet(s) in, ${stats.packetsOut} out\n`
  )
  process.exit(0)
}
process.once("SIGINT", stop)
process.once("SIGTERM", stop)
