/**
 * Retained messages, one per topic name.
 *
 * @since 0.1.0
 */
import type { Message } from "./Message.js"
import { matchesLevels } from "./Topic.js"

/**
 * @since 0.1.0
 */
export class RetainedStore {
  private readonly messages = new Map<string, Message>()

  /** Number of retained messages. */
  get size(): number {
    return this.messages.size
  }

  /**
   * Stores a retained message, replacing the topic's previous one; an empty
   * payload clears the topic instead [MQTT-3.3.1-10] [MQTT-3.3.1-11].
   */
  set(message: Message): void {
    if (message.payload.length === 0) this.messages.delete(message.topic)
    else this.messages.set(message.topic, message)
  }

  /** The retained message of a topic. */
  get(topic: string): Message | undefined {
    return this.messages.get(topic)
  }

  /** Retained messages whose topic matches a filter (split into levels). */
  match(levels: ReadonlyArray<string>): Array<Message> {
    const out: Array<Message> = []
    for (const message of this.messages.values()) {
      if (matchesLevels(levels, message.topic)) out.push(message)
    }
    return out
  }

  /** Drops every retained message. */
  clear(): void {
    this.messages.clear()
  }
}
