/**
 * The WebSocket listener: MQTT over WebSocket as the spec's section 6 says
 * (the `mqtt` subprotocol, one path), over HTTP or HTTPS, with the `ws`
 * library. Each upgraded connection becomes a duplex byte stream for the
 * server; a client that offers neither `mqtt` nor `mqttv3.1` (the name MQTT
 * 3.1 clients such as MQTT.js and Paho JavaScript offer) is refused before
 * the upgrade.
 */
import type * as Http from "node:http"
import type * as Net from "node:net"
import type * as Tls from "node:tls"
import * as Effect from "effect/Effect"
import WebSocket, { createWebSocketStream, WebSocketServer } from "ws"
import type { ListenError } from "../ListenError.js"
import { type Bound, bindFirst, type Handlers, urlOf } from "./listening.js"
import type * as Transport from "./transport.js"

/**
 * The subprotocols of MQTT over WebSocket, the preferred first: `mqtt`
 * [MQTT-6.0.0-3] [MQTT-6.0.0-4], and `mqttv3.1`, which MQTT 3.1 clients offer.
 */
const SUBPROTOCOLS = ["mqtt", "mqttv3.1"]

/** The subprotocol the server takes from those a client offers, or undefined. */
const chosen = (offered: ReadonlySet<string>): string | undefined => SUBPROTOCOLS.find((name) => offered.has(name))

const offersMqtt = (request: Http.IncomingMessage): boolean =>
  chosen(new Set((request.headers["sec-websocket-protocol"] ?? "").split(",").map((protocol) => protocol.trim()))) !==
  undefined

export const listenWebSocket = (
  host: string,
  from: number,
  to: number,
  path: string,
  tls: Tls.TlsOptions | undefined,
  handlers: Handlers
): Effect.Effect<Bound, ListenError> =>
  // node:http / node:https are loaded when a WebSocket listener starts.
  Effect.flatMap(
    Effect.promise(() => Promise.all([import("node:http"), import("node:https")])),
    ([Http, Https]) =>
      Effect.map(
        bindFirst(
          () => {
            const server = tls === undefined ? Http.createServer() : Https.createServer(tls)
            // A plain HTTP request (no upgrade) is told where MQTT is.
            server.on("request", (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
              response.writeHead(426, { "content-type": "text/plain", upgrade: "websocket" })
              response.end(`MQTT over WebSocket: upgrade at ${path} with the "mqtt" subprotocol\n`)
            })
            const sockets = new WebSocketServer({
              server,
              path,
              handleProtocols: (protocols) => chosen(protocols) ?? false,
              verifyClient: (info, done) => {
                if (offersMqtt(info.req)) return done(true)
                handlers.warn(
                  `WebSocket client ${info.req.socket.remoteAddress ?? "?"}:${info.req.socket.remotePort ?? "?"} did not offer the "mqtt" subprotocol (or "mqttv3.1"): refused with HTTP 400 [MQTT-6.0.0-3]`
                )
                done(false, 400, 'MQTT over WebSocket needs the "mqtt" subprotocol (or "mqttv3.1")')
              }
            })
            sockets.on("error", () => {})
            sockets.on("connection", (socket: WebSocket, request: Http.IncomingMessage) => {
              const raw = request.socket as Net.Socket
              raw.setNoDelay(true)
              // MQTT travels in binary frames only; a text frame closes the connection [MQTT-6.0.0-1].
              socket.on("message", (_data: unknown, isBinary: boolean) => {
                if (isBinary) return
                handlers.warn(
                  `WebSocket client ${raw.remoteAddress ?? "?"}:${raw.remotePort ?? "?"} sent a text frame; MQTT is carried in binary frames only: connection closed [MQTT-6.0.0-1]`
                )
                socket.terminate()
              })
              const duplex = createWebSocketStream(socket)
              duplex.on("error", () => {})
              const link: Transport.Link = {
                duplex,
                transport: tls === undefined ? "ws" : "wss",
                remoteAddress: raw.remoteAddress ?? "",
                remotePort: raw.remotePort ?? 0,
                reset: () => void raw.resetAndDestroy()
              }
              handlers.onLink(link, handlers.reserve())
            })
            return server
          },
          host,
          from,
          to
        ),
        (server) => {
          const address = server.address() as Net.AddressInfo
          const transport = tls === undefined ? "ws" : "wss"
          const self = {
            transport,
            host: address.address,
            port: address.port,
            url: urlOf(transport, address.address, address.port, path)
          } as const
          const bound: Bound = {
            ...self,
            addresses: [self],
            close: Effect.sync(() => void server.close()),
            reopen: Effect.suspend(() => listenWebSocket(host, address.port, address.port, path, tls, handlers)),
            connect: () => createWebSocketStream(new WebSocket(self.url, "mqtt", { rejectUnauthorized: false }))
          }
          return bound
        }
      )
  )
