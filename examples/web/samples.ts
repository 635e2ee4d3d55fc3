// Texts the demo page offers to pick, written for the demo: names no model can know in
// advance, each coming back again and again. The models learn English from the other
// samples; the FWL head learns the names of the text it reads as it reads them.

/** Sample texts by title. */
export const SAMPLES: Record<string, string> = {
  "The lighthouse keepers":
    `Old Quorvath kept the lighthouse on Skellmoor with his niece Bryndalee. Every evening Quorvath climbed the stairs, and every evening Bryndalee carried the oil behind him. The ships that passed Skellmoor knew the light of Quorvath and the songs of Bryndalee.

One winter a stranger named Tavishrune came to Skellmoor in a small grey boat. Tavishrune said he had come to learn the light. Quorvath did not trust him, but Bryndalee gave Tavishrune bread and a blanket. At night Tavishrune watched Quorvath climb the stairs, and at dawn Tavishrune watched Bryndalee clean the great lens.

When the storm came, Quorvath fell on the stairs. Bryndalee ran for the oil, and Tavishrune ran for the lamp. Together Bryndalee and Tavishrune kept the light of Skellmoor burning until morning, and the ships came home. Quorvath laughed from his bed and said that Skellmoor now had two keepers. In spring Tavishrune did not leave. He and Bryndalee still keep the light, and the sailors say the lamp of Skellmoor has never been brighter.`,
  "A market day":
    `Mirelda sold plums at the market of Dunhaven, and Osgrimble sold pears beside her. Each morning Mirelda set out her plums and Osgrimble set out his pears. The children of Dunhaven bought plums from Mirelda and pears from Osgrimble, and everyone said the market of Dunhaven was the best in the valley.

One day a merchant called Pellawick arrived with a cart of golden apples. Pellawick shouted louder than Mirelda and Osgrimble together. The children ran to Pellawick, and Mirelda and Osgrimble sold nothing. So Mirelda made plum jam, and Osgrimble made pear cake, and they gave a spoon of jam and a slice of cake to every child. The children came back to Mirelda and Osgrimble. Pellawick watched, then bought a jar of jam from Mirelda and a cake from Osgrimble, and the next week Pellawick sold apple pies at the market of Dunhaven beside them.`,
  "The river crossing":
    `Every spring the ferryman Haldric carried travellers across the river Ombrel. His daughter Senwyth counted the coins, and his old dog Brisket slept in the bow. When the river Ombrel was high, Haldric pulled the rope with both hands, and Senwyth held the lantern while Brisket barked at the water.

One morning a painter called Lusimar asked to be carried across the Ombrel with a great wooden frame. Haldric said the frame was too wide for the ferry, but Senwyth found a way to tie it to the side. Halfway over, the wind caught the frame and turned the ferry around. Brisket jumped into the Ombrel, Lusimar shouted, and Haldric laughed so hard that he nearly let go of the rope. At last they reached the far bank, wet and cold. Lusimar stayed a week to paint the river, and the painting of Haldric, Senwyth and Brisket on the Ombrel still hangs in the inn by the crossing.`,
  "The clockmaker's apprentice":
    `In the town of Varnholt there lived a clockmaker named Ebbrecht, and every clock in Varnholt had passed through his hands. His apprentice Tillowen swept the shop, oiled the wheels and listened to the ticking of a hundred clocks. Ebbrecht said that a good clockmaker hears a slow clock before he sees it, and Tillowen tried every day to hear what Ebbrecht heard.

One autumn the great clock on the tower of Varnholt stopped at noon. The mayor, a proud woman called Gundrasse, sent for Ebbrecht at once. But Ebbrecht was ill with a fever, so Tillowen climbed the tower alone. Inside the clock Tillowen found a nest of swallows between the wheels. Tillowen moved the nest to a beam, wound the spring and set the hands. When the bell of Varnholt rang again, Gundrasse thanked Ebbrecht, and Ebbrecht smiled and said that the work was all Tillowen's. From that day the people of Varnholt brought their clocks to Tillowen as often as to Ebbrecht.`,
  "The orchard letters":
    `Every week Aldwin wrote a letter to his sister Merrowyn, who kept the orchard at Feldcombe. Aldwin told Merrowyn about the city, the noise of the carts and the price of bread. Merrowyn told Aldwin about the orchard at Feldcombe, the blossom on the trees and the old horse Dumpling who pulled the apple cart.

In the summer the letters from Feldcombe stopped. Aldwin waited a week, and then another, and then he took the coach to Feldcombe. He found Merrowyn in the orchard with her arm in a sling, and Dumpling eating apples under the trees. Merrowyn had fallen from a ladder and could not write. Aldwin stayed at Feldcombe until the harvest was in. He picked the apples, Merrowyn counted the baskets, and Dumpling pulled the cart to the market. When Aldwin went back to the city, Merrowyn wrote him the longest letter of all, and Dumpling, she said, missed him too.`,
  "The mountain school":
    `High above the valley of Corrandel stood a school with one room and one teacher, old Master Feodric. Twelve children climbed the path to the school every morning, and the quickest of them was a girl named Ysolde. Ysolde could read before the others, count before the others and run up the path of Corrandel before the others.

One spring a boy called Brannock came to the school from the far side of the mountains. Brannock could not read, and the other children laughed at him. Master Feodric asked Ysolde to sit with Brannock. At first Ysolde did not want to, but Brannock knew the names of every bird on the mountain, and Ysolde knew none of them. So Ysolde taught Brannock his letters, and Brannock taught Ysolde the birds. By the summer Brannock read aloud to the school, and Ysolde could tell a kestrel from a hawk, and Master Feodric said the school of Corrandel had two teachers now.`,
};
