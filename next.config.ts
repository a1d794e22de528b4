import type { NextConfig } from "next";

// Kept minimal on purpose: the worker's address is read at run time by the
// /api/v1 proxy route, so nothing here may bake it in (no rewrites). The
// Content-Security-Policy depends on it too, so proxy.ts sets that per
// request; these headers are the same everywhere.
const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "Referrer-Policy", value: "same-origin" },
          { key: "X-Frame-Options", value: "DENY" },
          { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
        ],
      },
    ];
  },
};

export default nextConfig;
