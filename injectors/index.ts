// Importing this module loads every injector into the registry.
import "./process-kill";

export { getInjector, injectorNames } from "./registry";
export * from "./types";
