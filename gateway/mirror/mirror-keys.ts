/**
 * Where a site's volume lives in the bucket. Every key is under the site's
 * prefix (`sites/<site>/`), which is all an agent of that site is ever given
 * URLs for. An APPEND grows a volume: its image and manifest are uploaded
 * again under the same keys (a new object version in a versioned bucket; the
 * newer image holds every older session too).
 */
import { siteKeyPrefix } from '../identity/agent-tokens.js';

export function volumeKeys(site: string, vsn: string): { image: string; manifest: string } {
  const dir = `${siteKeyPrefix(site)}volumes/${vsn}/`;
  return { image: `${dir}${vsn}.iso`, manifest: `${dir}manifest.json` };
}
