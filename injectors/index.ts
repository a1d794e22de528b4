// Importing this module loads every injector into the registry.
import "./process-kill";
import "./disk-fill";
import "./io-stress";
import "./cpu-stress";
import "./memory-stress";
import "./cpu-limit";
import "./memory-limit";
import "./latency";
import "./packet-loss";
import "./bandwidth";
import "./partition";

export { getInjector, injectorNames } from "./registry";
export * from "./types";
