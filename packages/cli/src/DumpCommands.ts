/**
 * The subcommands that read a dump: `timeline`, `pcap` and `view`.
 */
import { Pcap, Timeline, View } from "@mqttest/server"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { colorful, writeOut } from "./Output.js"

/** `mqttest timeline DUMP.jsonl`: a dump as a terminal timeline. */
export const timeline = Command.make("timeline", { dump: Argument.String("dump") }, ({ dump }) =>
  Timeline.fromDump(dump, { color: colorful(process.stdout) }).pipe(Stream.runForEach((line) => writeOut(line)))
).pipe(
  Command.withDescription(
    "Print a dump (JSON Lines) as a timeline: time, gap, connection, direction arrow, packet summary, faults (coloured on a terminal; NO_COLOR turns colours off)"
  )
)

/** `mqttest pcap DUMP.jsonl -o OUT.pcapng`: a dump as a capture for Wireshark and tshark. */
export const pcap = Command.make(
  "pcap",
  { dump: Argument.String("dump"), out: Flag.String("out").pipe(Flag.withAlias("o")) },
  ({ dump, out }) => Pcap.fromDump(dump, out)
).pipe(
  Command.withDescription(
    "Write a dump (JSON Lines) as a pcapng capture that Wireshark/tshark decode as MQTT (one TCP conversation per connection to port 1883; faults and violations as packet comments)"
  )
)

/** `mqttest view DUMP.jsonl [-o OUT.html]`: a dump as an HTML sequence diagram. */
export const view = Command.make(
  "view",
  {
    dump: Argument.String("dump"),
    out: Flag.String("out").pipe(
      Flag.withAlias("o"),
      Flag.withDescription("the HTML file to write (default: the dump's name with .html)"),
      Flag.optional
    )
  },
  ({ dump, out }) => {
    const path = Option.getOrElse(out, () => `${dump.replace(/\.jsonl?$/, "")}.html`)
    return View.fromDump(dump, path).pipe(Effect.andThen(writeOut(path)))
  }
).pipe(
  Command.withDescription(
    "Write a dump (JSON Lines) as one self-contained HTML page: a sequence diagram with a lifeline per connection, faults and violations marked, filters, and the whole packet on a click; prints the file's path"
  )
)
