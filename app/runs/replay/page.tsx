import type { Metadata } from "next";
import { BundleViewer } from "@/components/report/BundleViewer";

export const metadata: Metadata = { title: "Replay bundle · Game Day" };

export default function ReplayPage() {
  return <BundleViewer />;
}
