// s3rver in its own process, so a benchmark measures the registry's memory and
// CPU without the fake bucket's. Prints `s3rver <endpoint>` and runs until killed.
import { startS3rver } from "../tests/_s3rver.ts";

const s3 = await startS3rver(["bench"]);
console.log(`s3rver ${s3.endpoint}`);
Deno.addSignalListener("SIGTERM", async () => {
  await s3.close();
  Deno.exit(0);
});
