import type { Metadata } from "next";
import { RunReplay } from "@/components/RunReplay";

export const metadata: Metadata = { title: "Run · Game Day" };

export default async function RunPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <RunReplay id={id} />;
}
