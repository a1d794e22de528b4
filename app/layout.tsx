import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

// Per request, never prerendered: Next.js puts the request's CSP nonce
// (proxy.ts) on its scripts only while rendering.
export const dynamic = "force-dynamic";

export const metadata: Metadata = {
  title: "Game Day",
  description: "Chaos-engineering dashboard: live architecture graph, experiments, aborts and reverts.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen bg-slate-950 text-slate-200 antialiased">{children}</body>
    </html>
  );
}
