using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Xml;
using Npgsql;

namespace DatasetPlatform.Grains.Storage;

/// <summary>
/// A minimal XLSX (one worksheet, inline strings, no styles) written from a data reader. ZipArchive writes
/// synchronously, which the web server forbids on a response, so the package is built in a temporary file (deleted on
/// close) and then streamed; the caller bounds the row count, so the file stays small.
/// </summary>
public static class XlsxExport
{
    private const string MainNs = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";

    public static async Task<FileStream> WriteAsync(NpgsqlDataReader reader, IReadOnlyList<string> header, CancellationToken cancellationToken)
    {
        var file = new FileStream(Path.Combine(Path.GetTempPath(), $"dp-xlsx-{Guid.NewGuid():N}.xlsx"), FileMode.CreateNew, FileAccess.ReadWrite,
            FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            await WritePackageAsync(file, reader, header, cancellationToken);
        }
        catch
        {
            await file.DisposeAsync(); // closing deletes it
            throw;
        }
        file.Position = 0;
        return file;
    }

    private static async Task WritePackageAsync(FileStream file, NpgsqlDataReader reader, IReadOnlyList<string> header, CancellationToken cancellationToken)
    {
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: true))
        {
            Entry(zip, "[Content_Types].xml", """
                <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
                <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>
                """);
            Entry(zip, "_rels/.rels", """
                <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>
                """);
            Entry(zip, "xl/workbook.xml", """
                <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
                <workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>
                """);
            Entry(zip, "xl/_rels/workbook.xml.rels", """
                <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
                <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>
                """);
            await using var sheet = zip.CreateEntry("xl/worksheets/sheet1.xml", CompressionLevel.Fastest).Open();
            await using var xml = XmlWriter.Create(sheet, new XmlWriterSettings { Async = true, Encoding = new UTF8Encoding(false) });
            await xml.WriteStartDocumentAsync(standalone: true);
            await xml.WriteStartElementAsync(null, "worksheet", MainNs);
            await xml.WriteStartElementAsync(null, "sheetData", MainNs);
            await xml.WriteStartElementAsync(null, "row", MainNs);
            foreach (var name in header) await TextCellAsync(xml, name);
            await xml.WriteEndElementAsync();
            while (await reader.ReadAsync(cancellationToken))
            {
                await xml.WriteStartElementAsync(null, "row", MainNs);
                for (var i = 0; i < reader.FieldCount; i++) await CellAsync(xml, reader.IsDBNull(i) ? null : reader.GetValue(i));
                await xml.WriteEndElementAsync();
            }
            await xml.WriteEndElementAsync();
            await xml.WriteEndElementAsync();
            await xml.WriteEndDocumentAsync();
        }
    }

    private static async Task CellAsync(XmlWriter xml, object? value)
    {
        switch (value)
        {
            case null:
                await xml.WriteStartElementAsync(null, "c", MainNs);
                await xml.WriteEndElementAsync();
                return;
            case bool b:
                await xml.WriteStartElementAsync(null, "c", MainNs);
                await xml.WriteAttributeStringAsync(null, "t", null, "b");
                await xml.WriteElementStringAsync(null, "v", MainNs, b ? "1" : "0");
                await xml.WriteEndElementAsync();
                return;
            case double or float or long or int or short or decimal:
                await xml.WriteStartElementAsync(null, "c", MainNs);
                await xml.WriteElementStringAsync(null, "v", MainNs, Convert.ToString(value, CultureInfo.InvariantCulture) ?? "");
                await xml.WriteEndElementAsync();
                return;
            default:
                await TextCellAsync(xml, Import.ImportRunner.FormatValue(value));
                return;
        }
    }

    private static async Task TextCellAsync(XmlWriter xml, string text)
    {
        await xml.WriteStartElementAsync(null, "c", MainNs);
        await xml.WriteAttributeStringAsync(null, "t", null, "inlineStr");
        await xml.WriteStartElementAsync(null, "is", MainNs);
        // XML 1.0 cannot carry most control characters; drop them rather than fail the whole download.
        await xml.WriteElementStringAsync(null, "t", MainNs, string.Concat(text.Where(c => c >= 0x20 || c is '\t' or '\n' or '\r')));
        await xml.WriteEndElementAsync();
        await xml.WriteEndElementAsync();
    }

    private static void Entry(ZipArchive zip, string name, string content)
    {
        using var stream = zip.CreateEntry(name, CompressionLevel.Fastest).Open();
        stream.Write(Encoding.UTF8.GetBytes(content.Trim()));
    }
}
