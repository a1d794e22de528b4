"use client";
// The browser's socket.io link to the worker: where it is (from /api/config,
// decided at run time), and a hook that keeps one typed connection open for as
// long as the component lives and reports whether it is up.
import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { io, type Socket } from "socket.io-client";
import { API, type ClientToServerEvents, type ServerToClientEvents } from "@/lib/contract";
import { apiCall } from "./api";
import { WEB_CONFIG_PATH, type WebConfig } from "./types";

export type WorkerSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Wait before retrying a handshake the worker refused (it does not retry by itself). */
const REFUSED_RETRY_MS = 5000;

export async function workerSocketUrl(signal?: AbortSignal): Promise<string> {
  const res = await fetch(WEB_CONFIG_PATH, { cache: "no-store", signal });
  if (!res.ok) throw new Error(`GET ${WEB_CONFIG_PATH}: HTTP ${res.status}`);
  const cfg = (await res.json()) as WebConfig;
  return cfg.workerSocketUrl ?? `${window.location.protocol}//${window.location.hostname}:${cfg.workerPort}`;
}

export interface LiveHandlers {
  hello?: ServerToClientEvents["hello"];
  graph?: ServerToClientEvents["graph:state"];
  runUpdate?: ServerToClientEvents["run:update"];
  runEvent?: ServerToClientEvents["run:event"];
  runSample?: ServerToClientEvents["run:sample"];
  runNote?: ServerToClientEvents["run:note"];
}

export interface LiveStatus {
  connected: boolean;
  /** Why the link is down, when known. */
  error: string | null;
}

/** One socket per mounted component; handlers may change between renders. */
export function useLive(handlers: LiveHandlers): LiveStatus {
  const h = useRef(handlers);
  useLayoutEffect(() => {
    h.current = handlers;
  });
  const [status, setStatus] = useState<LiveStatus>({ connected: false, error: null });

  useEffect(() => {
    const ctrl = new AbortController();
    let socket: WorkerSocket | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;

    void (async () => {
      let url: string;
      try {
        url = await workerSocketUrl(ctrl.signal);
      } catch (e) {
        if (!ctrl.signal.aborted) setStatus({ connected: false, error: (e as Error).message });
        return;
      }
      if (ctrl.signal.aborted) return;
      const s: WorkerSocket = io(url, { transports: ["websocket"], withCredentials: true });
      socket = s;
      s.on("connect", () => setStatus({ connected: true, error: null }));
      s.on("disconnect", (reason) => setStatus({ connected: false, error: reason }));
      s.on("connect_error", (err) => {
        setStatus({ connected: false, error: err.message });
        // socket.io gives up after a middleware refusal: find out whether the
        // session expired (apiCall then goes to /login), else try again later.
        if (!s.active) {
          void apiCall(API.me).catch(() => undefined);
          clearTimeout(retry);
          retry = setTimeout(() => s.connect(), REFUSED_RETRY_MS);
        }
      });
      s.on("hello", (m) => h.current.hello?.(m));
      s.on("graph:state", (g) => h.current.graph?.(g));
      s.on("run:update", (r) => h.current.runUpdate?.(r));
      s.on("run:event", (e) => h.current.runEvent?.(e));
      s.on("run:sample", (x) => h.current.runSample?.(x));
      s.on("run:note", (n) => h.current.runNote?.(n));
    })();

    return () => {
      ctrl.abort();
      clearTimeout(retry);
      if (socket) {
        socket.removeAllListeners();
        socket.disconnect();
      }
    };
  }, []);

  return status;
}
