// What the Uppy page (web/uppy.js) takes from stock Uppy, as one global: the page is a plain
// module with no bundler, and scripts/build-uppy bundles this file once per Uppy major.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
import Dashboard from "@uppy/dashboard";

window.Uppy = { Uppy, AwsS3, Dashboard };
