/**
 * MQTT 5 enhanced authentication on a connection [MQTT-4.12]: the exchange
 * after a CONNECT that names an authentication method the server has an
 * authenticator for (AUTH 0x18 both ways, then CONNACK), and
 * re-authentication on a connection that is up (AUTH 0x19, then 0x18 both
 * ways, then AUTH 0x00, or DISCONNECT when it fails).
 */
import { type Packet, ReasonCode } from "@mqttest/codec"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Authentication from "../../Authentication.js"
import type { Broker } from "../broker.js"
import type { Connection } from "../connection.js"
import * as Decisions from "../decisions.js"

/** A finished exchange: the method (left out by the `dropMethod` fault), and the data of the last answer. */
export interface Accepted {
  readonly method: string | undefined
  readonly data: Uint8Array | undefined
}

interface Exchange {
  step: number
  /** What the authenticator keeps between the steps of this exchange. */
  readonly memory: Map<string, unknown>
  /** True while the client's next AUTH is awaited (false while the authenticator works). */
  awaiting: boolean
  readonly reauthentication: boolean
}

interface State {
  readonly method: string
  readonly clientId: string
  readonly authenticate: Authentication.AuthenticateFunction
  /** The exchange in progress, if any. */
  exchange: Exchange | undefined
  /** Before the CONNACK: what to do with the outcome of the first exchange. */
  first: { readonly accepted: (auth: Accepted) => void; readonly refused: (reasonCode: number) => void } | undefined
}

/** The connections that authenticated with a method (and their exchange in progress). */
const states = new WeakMap<Connection, State>()

/** Whether the server has an authenticator for this method. */
export const supports = (broker: Broker, method: string): boolean =>
  broker.config.authentication !== undefined && Object.hasOwn(broker.config.authentication, method)

/** Whether the first exchange is still going on: the client may send only AUTH or DISCONNECT. */
export const beforeConnack = (conn: Connection): boolean => states.get(conn)?.first !== undefined

/**
 * A protocol error on a connection that authenticates: before the CONNACK it
 * gets CONNACK 0x82 (Protocol Error), after it DISCONNECT 0x82; then it closes.
 */
export const protocolError = (broker: Broker, conn: Connection, message: string, spec: string): void => {
  const state = states.get(conn)
  if (state?.first !== undefined && conn.closing === undefined) {
    state.first = undefined
    state.exchange = undefined
    conn.send({ _tag: "Connack", sessionPresent: false, reasonCode: ReasonCode.V5.ProtocolError })
  }
  broker.violation(conn, message, spec)
}

/** Starts the exchange of a CONNECT that names a supported method. */
export const begin = (
  broker: Broker,
  conn: Connection,
  start: {
    readonly method: string
    readonly data: Uint8Array | undefined
    readonly clientId: string
    readonly accepted: (auth: Accepted) => void
    readonly refused: (reasonCode: number) => void
  }
): void => {
  const state: State = {
    method: start.method,
    clientId: start.clientId,
    authenticate: Authentication.toFunction(broker.config.authentication![start.method]!),
    exchange: { step: 0, memory: new Map(), awaiting: false, reauthentication: false },
    first: { accepted: start.accepted, refused: start.refused }
  }
  states.set(conn, state)
  ask(broker, conn, state, start.data)
}

/** The CONNACK properties of a finished exchange [MQTT-4.12.0-5]. */
export const connackProperties = (auth: Accepted): Packet.ConnackProperties => ({
  ...(auth.method !== undefined ? { authenticationMethod: auth.method } : {}),
  ...(auth.data !== undefined ? { authenticationData: auth.data } : {})
})

/** An AUTH packet from the client. */
export const handleAuth = (broker: Broker, conn: Connection, packet: Packet.Auth): void => {
  const state = states.get(conn)
  if (state === undefined) {
    return broker.violation(conn, "AUTH without an authentication method in CONNECT", "MQTT-4.12.0-7")
  }
  const method = packet.properties?.authenticationMethod
  if (method !== state.method) {
    return protocolError(
      broker,
      conn,
      `AUTH with authentication method ${JSON.stringify(method ?? null)}, but CONNECT named ${JSON.stringify(state.method)}`,
      "MQTT-4.12.0-5"
    )
  }
  const code = packet.reasonCode ?? 0
  const exchange = state.exchange
  if (exchange !== undefined) {
    if (!exchange.awaiting) {
      return protocolError(broker, conn, "AUTH before the server answered the previous one", "MQTT-4.12.0-3")
    }
    if (code !== ReasonCode.V5.ContinueAuthentication) {
      return protocolError(
        broker,
        conn,
        `AUTH 0x${code.toString(16).padStart(2, "0")} during an authentication exchange: expected 0x18 (continue)`,
        "MQTT-4.12.0-3"
      )
    }
    return ask(broker, conn, state, packet.properties?.authenticationData)
  }
  if (code !== ReasonCode.V5.ReAuthenticate) {
    return protocolError(
      broker,
      conn,
      `AUTH 0x${code.toString(16).padStart(2, "0")} with no authentication exchange going on: a client starts one with 0x19`,
      "MQTT-4.12.1-1"
    )
  }
  state.exchange = { step: 0, memory: new Map(), awaiting: false, reauthentication: true }
  ask(broker, conn, state, packet.properties?.authenticationData)
}

/** Asks the authenticator about the client's data, then carries out its answer. */
const ask = (broker: Broker, conn: Connection, state: State, data: Uint8Array | undefined): void => {
  const exchange = state.exchange!
  exchange.awaiting = false
  const fault = conn.policy.behavior.authFault
  // The client answered the server's first AUTH: a server that never finishes goes silent now.
  if (fault === "neverFinish" && exchange.step >= 1) {
    broker.report(conn, { fault: "authFault.neverFinish", detail: "the exchange is left unfinished" })
    return Decisions.blackhole(broker, conn)
  }
  // The client answered the extra round: the success it held back goes out now.
  const heldBack = exchange.memory.get(EXTRA_ROUND) as Authentication.Answer | undefined
  if (heldBack !== undefined) {
    exchange.memory.delete(EXTRA_ROUND)
    return carryOut(broker, conn, state, exchange, heldBack)
  }
  const question: Authentication.Exchange = {
    method: state.method,
    step: exchange.step,
    data,
    clientId: state.clientId,
    connection: conn.id,
    reauthentication: exchange.reauthentication,
    memory: exchange.memory
  }
  conn.io.fork(
    Effect.suspend(() => state.authenticate(question)).pipe(
      Effect.catchCause((cause) =>
        Effect.sync(() => {
          broker.warn(conn, `authenticator for ${JSON.stringify(state.method)} failed: ${Cause.pretty(cause)}`)
          return Authentication.fail(0x80)
        })
      ),
      Effect.flatMap((answer) =>
        Effect.sync(() => {
          if (conn.closing !== undefined || state.exchange !== exchange) return
          broker.deps.emit({
            _tag: "AuthStep",
            connection: conn.id,
            ...(conn.clientId !== undefined ? { clientId: conn.clientId } : {}),
            method: state.method,
            step: question.step,
            reauthentication: question.reauthentication,
            dataLength: data?.length ?? 0,
            answer: answer._tag === "Continue" ? "continue" : answer._tag === "Success" ? "success" : "failure",
            ...(answer._tag === "Failure" ? { reasonCode: answer.reasonCode } : {})
          })
          carryOut(broker, conn, state, exchange, answer)
        })
      )
    )
  )
}

/** An AUTH from the server: always with the exchange's method [MQTT-4.12.0-5]. */
const authPacket = (reasonCode: number, method: string, data: Uint8Array | undefined): Packet.Auth => ({
  _tag: "Auth",
  reasonCode,
  properties: { authenticationMethod: method, ...(data !== undefined ? { authenticationData: data } : {}) }
})

/** Where the `extraRound` fault keeps the success it holds back for one more round. */
const EXTRA_ROUND = "mqttest:extraRound"

/** The `badFinalData` fault's data: SCRAM's `v=` signature with its first byte flipped, or the data's. */
const altered = (data: Uint8Array | undefined): Uint8Array => {
  const text = data === undefined ? "" : new TextDecoder().decode(data)
  if (text.startsWith("v=")) {
    const signature = Buffer.from(text.slice(2), "base64")
    signature[0] = (signature[0] ?? 0) ^ 0xff
    return new TextEncoder().encode(`v=${signature.toString("base64")}`)
  }
  const out = data === undefined || data.length === 0 ? new Uint8Array(1) : Uint8Array.from(data)
  out[0] = out[0]! ^ 0xff
  return out
}

const carryOut = (
  broker: Broker,
  conn: Connection,
  state: State,
  exchange: Exchange,
  answer: Authentication.Answer
): void => {
  if (conn.closing !== undefined || state.exchange !== exchange) return
  switch (answer._tag) {
    case "Continue": {
      exchange.step++
      exchange.awaiting = true
      conn.send(authPacket(ReasonCode.V5.ContinueAuthentication, state.method, answer.data))
      return
    }
    case "Success": {
      const fault = conn.policy.behavior.authFault
      if (fault === "extraRound" && !exchange.memory.has(`${EXTRA_ROUND}:done`)) {
        exchange.memory.set(`${EXTRA_ROUND}:done`, true)
        exchange.memory.set(EXTRA_ROUND, answer)
        broker.report(conn, { fault: "authFault.extraRound", detail: "one more AUTH 0x18 round before the success" })
        exchange.awaiting = true
        conn.send(authPacket(ReasonCode.V5.ContinueAuthentication, state.method, answer.data))
        return
      }
      state.exchange = undefined
      const first = state.first
      state.first = undefined
      let data = answer.data
      if (fault === "badFinalData") {
        data = altered(data)
        broker.report(conn, { fault: "authFault.badFinalData", detail: "the success's Authentication Data is altered" })
      }
      const method = fault === "dropMethod" ? undefined : state.method
      if (fault === "dropMethod") {
        broker.report(conn, {
          fault: "authFault.dropMethod",
          detail: "the success leaves out the Authentication Method"
        })
      }
      if (first !== undefined) return first.accepted({ method, data })
      conn.send(
        method === undefined
          ? { _tag: "Auth", reasonCode: 0, properties: data ? { authenticationData: data } : {} }
          : authPacket(0, method, data)
      )
      return
    }
    case "Failure": {
      state.exchange = undefined
      const first = state.first
      state.first = undefined
      broker.warn(
        conn,
        `${first !== undefined ? "authentication" : "re-authentication"} with ${JSON.stringify(state.method)} failed: 0x${answer.reasonCode.toString(16)}`
      )
      // The first exchange ends with a CONNACK [MQTT-4.12.0-4]; a re-authentication with DISCONNECT [MQTT-4.12.1-2].
      if (first !== undefined) return first.refused(answer.reasonCode)
      broker.close(conn, "ServerDisconnect", answer.reasonCode)
    }
  }
}
