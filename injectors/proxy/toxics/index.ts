// Loading this module registers every toxic in the table (toxic.ts).
import "./latency";
import "./bandwidth";
import "./slow-close";
import "./timeout";
import "./reset-peer";
import "./slicer";
import "./limit-data";
import "./http-status";
import "./http-delay";
import "./http-abort";
import "./http-corrupt";
import "./http-truncate";
