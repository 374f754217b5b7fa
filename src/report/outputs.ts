import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { awsErrorLabel } from '../aws-errors.ts';
import { SigwatchError } from '../errors.ts';
import type { PostureReport } from './posture.ts';
import { renderCsv } from './render-csv.ts';
import { renderHtml } from './render-html.ts';
import { renderJson } from './render-json.ts';

/**
 * A report in its three formats, and where they go: a folder (the CLI, the
 * demo) or S3 (a run's end: `<prefix><run id>/…` and `<prefix>latest/…`).
 */

export interface RenderedReport {
  name: string;
  contentType: string;
  body: string;
}

function renderAll(report: PostureReport): RenderedReport[] {
  return [
    { name: 'report.html', contentType: 'text/html; charset=utf-8', body: renderHtml(report) },
    { name: 'report.json', contentType: 'application/json', body: renderJson(report) },
    { name: 'report.csv', contentType: 'text/csv; charset=utf-8; header=present', body: renderCsv(report) },
  ];
}

/** Writes the files into `dir` (created if needed); returns their absolute paths, HTML first. */
export async function writeReportFiles(report: PostureReport, dir: string): Promise<string[]> {
  const folder = resolve(dir);
  try {
    await mkdir(folder, { recursive: true });
    const paths: string[] = [];
    for (const f of renderAll(report)) {
      const path = join(folder, f.name);
      await writeFile(path, f.body);
      paths.push(path);
    }
    return paths;
  } catch (err) {
    throw new SigwatchError('CONFIG', `report: cannot write to ${folder}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Run ids become key segments: anything but these characters is replaced, so a key never escapes the prefix. */
function keySegment(runId: string): string {
  return runId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Uploads the files under `<prefix><run>/` and `<prefix>latest/`; returns the s3:// URLs written. */
export async function writeReportToS3(report: PostureReport, s3: S3Client, bucket: string, prefix: string, runId: string): Promise<string[]> {
  const written: string[] = [];
  const files = renderAll(report);
  for (const folder of [keySegment(runId), 'latest']) {
    for (const f of files) {
      const key = `${prefix}${folder}/${f.name}`;
      try {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: f.body, ContentType: f.contentType, CacheControl: 'no-cache' }));
      } catch (err) {
        throw new SigwatchError('INTERNAL', `report: cannot write s3://${bucket}/${key} (${awsErrorLabel(err)})`);
      }
      written.push(`s3://${bucket}/${key}`);
    }
  }
  return written;
}
