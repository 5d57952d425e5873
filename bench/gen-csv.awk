# bench/gen-csv.awk - deterministic benchmark CSV for bench/ingest.sh.
#
#   awk -v n=1000000 -f bench/gen-csv.awk > file.csv
#
# 11 columns: Date (YYYY-MM-DD), Country (210 distinct names, a few quoted because they hold a comma,
# some accented), then 9 Decimal columns with 4 decimals at different scales (some negative).
# Rows go date by date, all countries for each date, so (Date, Country) is unique: n rows span
# ceil(n / 210) days from 2000-01-01 (1,000,000 rows: 4,762 days, up to 2013-01-13).
BEGIN {
  if (n == "") n = 1000000
  n += 0
  srand(20261123)
  list = "Afghanistan|Albania|Algeria|Andorra|Angola|Antigua and Barbuda|Argentina|Armenia|Australia|Austria|" \
    "Azerbaijan|Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bhutan|" \
    "Bolivia|Bosnia and Herzegovina|Botswana|Brazil|Brunei Darussalam|Bulgaria|Burkina Faso|Burundi|Cabo Verde|Cambodia|" \
    "Cameroon|Canada|Central African Republic|Chad|Chile|China|Colombia|Comoros|\"Congo, Democratic Republic of the\"|Congo|" \
    "Costa Rica|Côte d'Ivoire|Croatia|Cuba|Cyprus|Czechia|Denmark|Djibouti|Dominica|Dominican Republic|" \
    "Ecuador|Egypt|El Salvador|Equatorial Guinea|Eritrea|Estonia|Eswatini|Ethiopia|Fiji|Finland|" \
    "France|Gabon|Gambia|Georgia|Germany|Ghana|Greece|Grenada|Guatemala|Guinea|" \
    "Guinea-Bissau|Guyana|Haiti|Honduras|Hungary|Iceland|India|Indonesia|\"Iran, Islamic Republic of\"|Iraq|" \
    "Ireland|Israel|Italy|Jamaica|Japan|Jordan|Kazakhstan|Kenya|Kiribati|\"Korea, Republic of\"|" \
    "Kuwait|Kyrgyzstan|Lao People's Democratic Republic|Latvia|Lebanon|Lesotho|Liberia|Libya|Liechtenstein|Lithuania|" \
    "Luxembourg|Madagascar|Malawi|Malaysia|Maldives|Mali|Malta|Marshall Islands|Mauritania|Mauritius|" \
    "Mexico|\"Micronesia, Federated States of\"|Moldova|Monaco|Mongolia|Montenegro|Morocco|Mozambique|Myanmar|Namibia|" \
    "Nauru|Nepal|Netherlands|New Zealand|Nicaragua|Niger|Nigeria|North Macedonia|Norway|Oman|" \
    "Pakistan|Palau|Panama|Papua New Guinea|Paraguay|Peru|Philippines|Poland|Portugal|Qatar|" \
    "Romania|Russian Federation|Rwanda|Saint Kitts and Nevis|Saint Lucia|Saint Vincent and the Grenadines|Samoa|San Marino|São Tomé and Príncipe|Saudi Arabia|" \
    "Senegal|Serbia|Seychelles|Sierra Leone|Singapore|Slovakia|Slovenia|Solomon Islands|Somalia|South Africa|" \
    "South Sudan|Spain|Sri Lanka|Sudan|Suriname|Sweden|Switzerland|Syrian Arab Republic|Tajikistan|Tanzania|" \
    "Thailand|Timor-Leste|Togo|Tonga|Trinidad and Tobago|Tunisia|Türkiye|Turkmenistan|Tuvalu|Uganda|" \
    "Ukraine|United Arab Emirates|United Kingdom|United States|Uruguay|Uzbekistan|Vanuatu|Venezuela|Viet Nam|Yemen|" \
    "Zambia|Zimbabwe|Hong Kong SAR|Macao SAR|Taiwan Province of China|Puerto Rico|Kosovo|West Bank and Gaza|Aruba|Curaçao|" \
    "Euro Area|European Union|World|Latin America & Caribbean|Sub-Saharan Africa|East Asia & Pacific|Middle East & North Africa|South Asia|North America|OECD members"
  c = split(list, country, "|")
  split("31 28 31 30 31 30 31 31 30 31 30 31", mdays, " ")
  print "Date,Country,GDP,GDP Growth,Inflation,Unemployment Rate,Population,Exports,Imports,Interest Rate,Exchange Rate"
  y = 2000; m = 1; d = 1
  date = "2000-01-01"
  k = 0
  for (i = 0; i < n; i++) {
    printf "%s,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f\n", date, country[k + 1],
      rand() * 100000, (rand() - 0.5) * 20, (rand() - 0.2) * 15, rand() * 30, rand() * 10000000,
      rand() * 50000, rand() * 50000, (rand() - 0.1) * 12, rand() * 1000
    if (++k == c) {
      k = 0
      # next day
      dim = mdays[m]
      if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) dim = 29
      if (++d > dim) { d = 1; if (++m > 12) { m = 1; y++ } }
      date = sprintf("%04d-%02d-%02d", y, m, d)
    }
  }
}
