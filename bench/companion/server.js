// Uppy Companion as its README shows it ("plug to an existing server"): Companion's express app
// mounted on an express app, with S3 multipart configured. The peer of upload-sign's Uppy routes in
// scripts/bench-uploads, which starts this with:
//   COMPANION_PORT     port to listen on (127.0.0.1 only)
//   COMPANION_DATADIR  a writable scratch directory (Companion's `filePath`)
//   S3_ENDPOINT, S3_BUCKET, S3_KEY, S3_SECRET, S3_REGION  the S3 store (path-style)
import { randomBytes } from 'node:crypto'
import express from 'express'
import * as companion from '@uppy/companion'

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback
  if (value == null || value === '') throw new Error(`server.js: set ${name}`)
  return value
}

const port = Number(env('COMPANION_PORT'))
const host = `127.0.0.1:${port}`
const s3Endpoint = env('S3_ENDPOINT')

const { app: companionApp } = companion.app({
  secret: randomBytes(32).toString('hex'),
  filePath: env('COMPANION_DATADIR'),
  server: { host, protocol: 'http' },
  // Where Companion may send files it fetches itself (not used by the S3 routes).
  uploadUrls: [s3Endpoint],
  corsOrigins: [`http://${host}`],
  // Prometheus metrics are on by default; off here so Companion does only the signing work.
  metrics: false,
  s3: {
    endpoint: s3Endpoint,
    bucket: env('S3_BUCKET'),
    key: env('S3_KEY'),
    secret: env('S3_SECRET'),
    region: env('S3_REGION', 'us-east-1'),
    forcePathStyle: true,
    // Companion's default (seconds), about upload-sign's 900.
    expires: 800,
  },
})

const app = express()
app.use(companionApp)
app.listen(port, '127.0.0.1', () => {
  console.log(`companion listening on http://${host}`)
})
