// Importing this module loads every injector and every target kind into their
// registries (and so into lib/catalog).
import "./targets/resolve";
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
import "./dns";
import "./proxy-toxic";
import "./http-fault";
import "./docker/container-pause";
import "./docker/container-kill";
import "./docker/container-stop";
import "./docker/container-restart";
import "./docker/container-limit";
import "./cloud/ec2-stop";
import "./cloud/ec2-terminate";
import "./cloud/az-outage";
import "./cloud/sg-isolate";
import "./connect-error";
import "./packet-drop";
import "./syscall-error";

export { getInjector, injectorNames, isIrreversible } from "./registry";
export * from "./types";
