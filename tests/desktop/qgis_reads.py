"""Run by Debian's /usr/bin/python3 with Debian's python3-qgis (QGIS 3.22, GDAL 3.6), headless: what an
analyst's QGIS does with GeoLabel. Reads a JSON job on stdin, prints one JSON object.

Job: {"ogc": URL of /ogc, "collection": id, "readers": {name: [username, token]},
      "files": {name: [path, layer]}, "profile": an empty folder for QGIS's settings and auth database}
Answer: {"features": {name: count or null when the layer is invalid}, "ids": {name: [...]},
         "files": {name: {"valid": bool, "count": int, "banner": str or null}}}
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    job = json.load(sys.stdin)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # QGIS keeps authentication configurations in its own encrypted database under the profile.
    os.environ["QGIS_AUTH_DB_DIR_PATH"] = job["profile"]
    os.environ["HOME"] = job["profile"]
    from qgis.core import QgsApplication, QgsAuthMethodConfig, QgsVectorLayer

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    auth = QgsApplication.authManager()
    auth.setMasterPassword("geolabel-test-master", True)
    answer: dict[str, dict[str, object]] = {"features": {}, "ids": {}, "files": {}}
    for name, (username, token) in job["readers"].items():
        config = QgsAuthMethodConfig()
        config.setMethod("Basic")  # what an analyst picks in QGIS's authentication dialog
        config.setName(f"GeoLabel {name}")
        config.setConfig("username", username)
        config.setConfig("password", token)
        if not auth.storeAuthenticationConfig(config):
            raise SystemExit(f"could not store the authentication configuration of {name}")
        uri = f"url='{job['ogc']}' typename='{job['collection']}' authcfg='{config.id()}'"
        layer = QgsVectorLayer(uri, f"labels {name}", "OAPIF")
        if not layer.isValid():
            answer["features"][name] = None
            continue
        ids = sorted(str(feature["id"]) for feature in layer.getFeatures())
        answer["features"][name] = len(ids)
        answer["ids"][name] = ids
    from osgeo import gdal

    for name, (path, layer_name) in job["files"].items():
        layer = QgsVectorLayer(f"{path}|layername={layer_name}", name, "ogr")
        dataset = gdal.OpenEx(path, gdal.OF_VECTOR)
        answer["files"][name] = {
            "valid": layer.isValid(),
            "count": layer.featureCount() if layer.isValid() else -1,
            "banner": dataset.GetMetadataItem("BANNER") if dataset is not None else None,
            "crs": layer.crs().authid() if layer.isValid() else None,
        }
    print(json.dumps(answer), flush=True)
    # PyQGIS 3.22 can crash in exitQgis() and while Python tears its objects down: the answer is out, and
    # the profile folder is the caller's.
    os._exit(0)


if __name__ == "__main__":
    main()
