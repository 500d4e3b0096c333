# What the specs read back from the fake Heroku: the quantities PATCH
# requests set, in order, whether single or batch updates.
module FormationHistory
  def patched_quantities(heroku, type = nil)
    heroku.patches.select(&:status).select { |r| r.status == 200 }.flat_map do |request|
      body = request.json
      updates = body["updates"] || [{ "type" => request.path.split("/").last, "quantity" => body["quantity"] }]
      updates.select { |u| type.nil? || u["type"] == type }.map { |u| u["quantity"] }
    end
  end
end

RSpec.configure { |config| config.include FormationHistory }
