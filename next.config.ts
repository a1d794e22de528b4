import type { NextConfig } from "next";

// Kept minimal on purpose: the worker's address is read at run time by the
// /api/v1 proxy route, so nothing here may bake it in (no rewrites).
const nextConfig: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
