// Workers build only (wrangler.toml [alias] "@aws-sdk/xml-builder"): the AWS SDK's browser build
// parses S3's XML answers (listings, errors) with DOMParser, which workerd does not have; its Node
// build's parser is plain JavaScript. Relative paths, so the package's "browser" remap does not apply.
export { XmlNode } from '../../node_modules/@aws-sdk/xml-builder/dist-es/XmlNode.js';
export { XmlText } from '../../node_modules/@aws-sdk/xml-builder/dist-es/XmlText.js';
export { parseXML } from '../../node_modules/@aws-sdk/xml-builder/dist-es/xml-parser.js';
