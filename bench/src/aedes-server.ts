// aedes behind net.createServer on 127.0.0.1, port 0: prints {"port"} and serves until killed.

import * as Net from "node:net"
import { Aedes } from "aedes"

const broker = await Aedes.createBroker()
const server = Net.createServer(broker.handle)
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as Net.AddressInfo).port })}\n`)
})
