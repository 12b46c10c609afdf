/**
 * What the gallery's entries share: MQTT.js releases side by side (npm
 * aliases, see package.json), and a connected client of any of them.
 */
import type { Handle } from "@mqttest/server"

/** The part of an MQTT.js module (any release) the entries use. */
export interface MqttJs {
  readonly connect: (url: string, options?: Record<string, unknown>) => Client
}

/** The part of an MQTT.js client (any release) the entries use. */
export interface Client {
  readonly connected: boolean
  readonly options: Record<string, unknown>
  on(event: string, listener: (...args: Array<any>) => void): this
  once(event: string, listener: (...args: Array<any>) => void): this
  subscribe(
    topic: string,
    options: Record<string, unknown>,
    callback: (error: Error | null, granted?: Array<{ qos: number }>) => void
  ): this
  publish(topic: string, payload: string, options: Record<string, unknown>, callback: (error?: Error) => void): this
  end(force?: boolean, callback?: () => void): this
}

/** An MQTT.js release by its alias (`mqtt-5-7-0` for 5.7.0). */
export const release = async (alias: string): Promise<MqttJs> => {
  const module = (await import(alias)) as { default?: MqttJs } & MqttJs
  return module.default?.connect !== undefined ? module.default : module
}

/** A client of `server`, once connected (rejects on an error, or when it closes first). */
export const connected = (mqtt: MqttJs, server: Handle, options: Record<string, unknown>) =>
  new Promise<Client>((resolve, reject) => {
    const client = mqtt.connect(server.url, { reconnectPeriod: 0, ...options })
    client.once("connect", () => resolve(client))
    client.once("error", (error: Error) => reject(error))
    client.once("close", () => reject(new Error("closed before CONNACK")))
  })

/** Ends a client, forcefully. */
export const ended = (client: Client) => new Promise<void>((resolve) => client.end(true, () => resolve()))
